"""Runs: the one recipe that makes a run, where it trains (a thread, its own processes), following it from its
files, the runs in a folder, quick training and demos."""

"""Runs: the one recipe that makes a run, where it trains (a thread, its own processes), its folder, following
it from its files, the runs in a folder, quick training and demos."""

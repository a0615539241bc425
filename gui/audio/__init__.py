"""The Audio panel: live denoising (Live), denoising a recording (File) and training a denoiser (Train)."""

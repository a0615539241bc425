"""Image models' engine: data sources and splits, their trainer, embeddings and maps, latent operations,
comparison of generative models, pictures in and out."""

"""What the exploration pages compute from a trained run: codes, reconstructions, reports,
metrics, 2-D projections and their warm-up, the latent space's evolution."""

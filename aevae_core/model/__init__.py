"""The networks (MLP and conv AE/VAE), their loss terms, the layer shapes worked out without
torch, and checkpoints."""

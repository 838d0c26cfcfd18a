"""Segmentation models: the U-Net zoo, losses, training and batched prediction."""

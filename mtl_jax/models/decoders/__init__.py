"""Task decoders: U-Net, SegNet (unpooling), staged (for cross-task exchange), up-skip (SemBoost)."""

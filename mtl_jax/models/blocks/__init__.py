"""Building blocks of the networks: conv blocks, CBAM, xTAM, LSU, MTAN's masks, resizing."""

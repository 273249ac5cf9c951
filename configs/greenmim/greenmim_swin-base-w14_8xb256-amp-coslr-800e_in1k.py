# GreenMIM Swin-B with window 14 (stage grids 56, 28, 14, 7: shifted 14x14 windows on the first
# two stages, one 14x14 window on stage 3, one 7x7 window on stage 4), 224 px, 800 epochs.
_base_ = './greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py'

model = dict(backbone=dict(window_size=14))

"""GreenMIM's decoder puts every visible token at its own unit and mask tokens elsewhere."""
import torch

from mmdbp.models.necks import GreenMIMDecoder


def test_tokens_land_on_their_units():
    torch.manual_seed(0)
    dec = GreenMIMDecoder(grid_size=(2, 3), unit_size=2, embed_dims=8, decoder_embed_dims=16,
                          decoder_depth=1, decoder_num_heads=2)
    dec.init_weights()
    mask = torch.tensor([[1., 0., 0., 1., 1., 0.], [0., 1., 1., 0., 0., 1.]])  # 3 visible each
    latent = torch.randn(2, 3, 8)
    seen = {}
    dec.decoder_blocks[0].register_forward_pre_hook(lambda m, args: seen.setdefault('x', args[0]))
    pred = dec(latent, mask)
    assert pred.shape == (2, 6, 2 * 2 * 3)
    # naive: walk the units in order, visible ones consume the latent tokens in order
    pos = dec.decoder_pos_embed[0]
    for b in range(2):
        k = 0
        for u in range(6):
            if mask[b, u] == 0:
                expected = dec.decoder_embed(latent[b, k]) + pos[u]
                k += 1
            else:
                expected = dec.mask_token[0, 0] + pos[u]
            torch.testing.assert_close(seen['x'][b, u], expected)


def test_position_embedding_is_row_major():
    """Units of one row share the row (h) half of the sin-cos embedding."""
    dec = GreenMIMDecoder(grid_size=(2, 3), unit_size=2, embed_dims=8, decoder_embed_dims=16,
                          decoder_depth=1, decoder_num_heads=2)
    dec.init_weights()
    pos = dec.decoder_pos_embed[0].view(2, 3, 16)
    # one half of the channels depends on the row only, the other on the column only
    row_half = [pos[:, :, :8], pos[:, :, 8:]]
    row_only = [bool((h - h[:, :1]).abs().max() < 1e-6) for h in row_half]
    col_only = [bool((h - h[:1]).abs().max() < 1e-6) for h in row_half]
    assert sorted([row_only[0], col_only[0]]) == [False, True]
    assert row_only != col_only

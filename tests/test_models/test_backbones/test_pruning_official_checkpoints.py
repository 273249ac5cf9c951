"""Official DynamicViT and EViT checkpoints load into mmdbp completely and give the official
function.

The official models are transcribed here from the released code (raoyongming/DynamicViT
``models/dyvit.py``, youweiliang/evit ``evit.py``, both on timm 0.4.12's ViT), with their module
names, so ``state_dict()`` has exactly the key names and shapes of the released checkpoints
(``{'model': state_dict}``). Tiny sizes, fp64, eval mode.
"""
import math

import pytest
import torch
import torch.nn as nn
from shared_helpers import load_tool

from mmdbp.models.backbones import DynamicViT, EViT

C, DEPTH, HEADS, HIDDEN, PATCH, IMG = 32, 6, 4, 64, 8, 32  # 16 patch tokens
ARCH = dict(embed_dims=C, num_layers=DEPTH, num_heads=HEADS, feedforward_channels=HIDDEN)
LOCS = (1, 3, 4)


# -- the official modules (timm 0.4.12 ViT parts as used by both repositories) ------------------
class OfficialAttention(nn.Module):

    def __init__(self):
        super().__init__()
        self.scale = (C // HEADS)**-0.5
        self.qkv = nn.Linear(C, C * 3, bias=True)
        self.proj = nn.Linear(C, C)

    def forward(self, x):  # returns the output and the attention probabilities
        B, N, _ = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, HEADS, C // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C)), attn


class OfficialMlp(nn.Module):

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(C, HIDDEN)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(HIDDEN, C)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class OfficialBlock(nn.Module):

    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(C, eps=1e-6)
        self.attn = OfficialAttention()
        self.norm2 = nn.LayerNorm(C, eps=1e-6)
        self.mlp = OfficialMlp()

    def forward(self, x):
        x = x + self.attn(self.norm1(x))[0]
        return x + self.mlp(self.norm2(x))


class OfficialPatchEmbed(nn.Module):

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, C, kernel_size=PATCH, stride=PATCH)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class OfficialPredictorLG(nn.Module):
    """``PredictorLG`` of ``models/dyvit.py``."""

    def __init__(self, embed_dim):
        super().__init__()
        self.in_conv = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, embed_dim),
                                     nn.GELU())
        self.out_conv = nn.Sequential(
            nn.Linear(embed_dim, embed_dim // 2), nn.GELU(),
            nn.Linear(embed_dim // 2, embed_dim // 4), nn.GELU(),
            nn.Linear(embed_dim // 4, 2), nn.LogSoftmax(dim=-1))

    def forward(self, x, policy):
        x = self.in_conv(x)
        B, N, C_ = x.size()
        local_x = x[:, :, :C_ // 2]
        global_x = (x[:, :, C_ // 2:] * policy).sum(dim=1, keepdim=True) / torch.sum(
            policy, dim=1, keepdim=True)
        x = torch.cat([local_x, global_x.expand(B, N, C_ // 2)], dim=-1)
        return self.out_conv(x)


class OfficialViT(nn.Module):
    """The parameters of ``VisionTransformerDiffPruning`` (with ``score_predictor``) or of
    EViT's ``EViT`` (without), named as there."""

    def __init__(self, num_predictors=0, num_classes=5):
        super().__init__()
        self.patch_embed = OfficialPatchEmbed()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, C))
        self.pos_embed = nn.Parameter(torch.zeros(1, (IMG // PATCH)**2 + 1, C))
        self.blocks = nn.ModuleList([OfficialBlock() for _ in range(DEPTH)])
        self.norm = nn.LayerNorm(C, eps=1e-6)
        self.head = nn.Linear(C, num_classes)
        if num_predictors:
            self.score_predictor = nn.ModuleList(
                [OfficialPredictorLG(C) for _ in range(num_predictors)])
        torch.manual_seed(0)
        with torch.no_grad():
            for name, p in self.named_parameters():
                base = 1. if name.endswith('weight') and p.dim() == 1 else 0.  # LayerNorm gain
                p.copy_(base + torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.1))
        self.double().eval()

    def embed(self, img):
        x = self.patch_embed(img)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        return x + self.pos_embed


def batch_index_select(x, idx):
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def official_dynamicvit_eval(model, img, token_ratio):
    """The eval branch of ``VisionTransformerDiffPruning.forward``, up to the normed cls token."""
    x = model.embed(img)
    B, init_n = x.shape[0], x.shape[1] - 1
    prev_decision = torch.ones(B, init_n, 1, dtype=x.dtype)
    p_count = 0
    for i, blk in enumerate(model.blocks):
        if i in LOCS:
            spatial_x = x[:, 1:]
            pred_score = model.score_predictor[p_count](spatial_x, prev_decision).reshape(B, -1, 2)
            score = pred_score[:, :, 0]
            num_keep_node = int(init_n * token_ratio[p_count])
            keep_policy = torch.argsort(score, dim=1, descending=True)[:, :num_keep_node]
            cls_policy = torch.zeros(B, 1, dtype=keep_policy.dtype)
            now_policy = torch.cat([cls_policy, keep_policy + 1], dim=1)
            x = batch_index_select(x, now_policy)
            prev_decision = batch_index_select(prev_decision, keep_policy)
            p_count += 1
        x = blk(x)
    return model.norm(x)[:, 0]


def official_evit_eval(model, img, keep_rate, fuse_token):
    """EViT's ``Block.forward`` / ``Attention.forward`` at inference (``keep_rate`` at ``LOCS``,
    1 elsewhere), up to the normed cls token."""
    x = model.embed(img)
    for i, blk in enumerate(model.blocks):
        rate = keep_rate if i in LOCS else 1
        B, N, _ = x.shape
        tmp, attn = blk.attn(blk.norm1(x))
        x = x + tmp
        if rate < 1:
            left_tokens = math.ceil(rate * (N - 1))
            if left_tokens != N - 1:
                cls_attn = attn[:, :, 0, 1:].mean(dim=1)
                _, idx = torch.topk(cls_attn, left_tokens, dim=1, largest=True, sorted=True)
                non_cls = x[:, 1:]
                x_others = batch_index_select(non_cls, idx)
                parts = [x[:, 0:1], x_others]
                if fuse_token:
                    dropped = torch.ones_like(cls_attn, dtype=torch.bool).scatter(1, idx, False)
                    w = (cls_attn * dropped).unsqueeze(-1)  # the complement's attention
                    parts.append(torch.sum(non_cls * w, dim=1, keepdim=True))
                x = torch.cat(parts, dim=1)
        x = x + blk.mlp(blk.norm2(x))
    return model.norm(x)[:, 0]


def backbone_part(state):
    return {k: v for k, v in state.items() if not k.startswith('head.')}


# -- DynamicViT ----------------------------------------------------------------------------------
def test_official_dynamicvit_checkpoint_loads_completely_and_computes_the_official_function():
    official = OfficialViT(num_predictors=len(LOCS))
    state = official.state_dict()
    assert sum(k.startswith('score_predictor.') for k in state) == 10 * len(LOCS)
    assert state['score_predictor.0.out_conv.4.weight'].shape == (2, C // 4)
    model = DynamicViT(keep_ratio=0.7, pruning_locs=LOCS, arch=ARCH, img_size=IMG,
                       patch_size=PATCH).double()
    result = model.load_state_dict(backbone_part(state), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    for s in range(len(LOCS)):  # every predictor holds the official one's weights
        torch.testing.assert_close(model.predictors[s].out_conv[4].weight,
                                   state[f'score_predictor.{s}.out_conv.4.weight'], rtol=0, atol=0)
    torch.manual_seed(1)
    img = torch.randn(3, 3, IMG, IMG, dtype=torch.float64)
    ratios = [0.7, 0.7**2, 0.7**3]  # the official KEEP_RATE for base_rate 0.7
    assert list(model.keep_ratios) == ratios
    ref = official_dynamicvit_eval(official, img, ratios)
    torch.testing.assert_close(model(img)[-1], ref, rtol=1e-10, atol=1e-10)


def test_predictor_equals_the_official_predictor_lg():
    official = OfficialViT(num_predictors=1)
    model = DynamicViT(keep_ratio=0.7, pruning_locs=(2, ), arch=ARCH, img_size=IMG,
                       patch_size=PATCH).double()
    model.load_state_dict(backbone_part(official.state_dict()), strict=True)
    torch.manual_seed(2)
    x = torch.randn(2, 16, C, dtype=torch.float64)
    policy = (torch.rand(2, 16, 1) > 0.4).double()
    policy[:, 0] = 1
    torch.testing.assert_close(model.predictors[0](x, policy),
                               official.score_predictor[0](x, policy), rtol=1e-12, atol=1e-12)


def test_converter_maps_the_official_dynamicvit_file():
    official = OfficialViT(num_predictors=len(LOCS))
    out = load_tool('model_converters/vit_to_mmdbp.py').convert_checkpoint({'model': official.state_dict()})
    assert not [k for k in out if 'score_predictor' in k]
    assert out['head.layers.head.weight'].shape == (5, C)
    model = DynamicViT(pruning_locs=LOCS, arch=ARCH, img_size=IMG, patch_size=PATCH).double()
    backbone = {k[len('backbone.'):]: v for k, v in out.items() if k.startswith('backbone.')}
    result = model.load_state_dict(backbone, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


# -- EViT ----------------------------------------------------------------------------------------
@pytest.mark.parametrize('keep_rate,fuse', [(0.7, True), (0.5, False), (0.55, True)])
def test_official_evit_checkpoint_loads_completely_and_computes_the_official_function(
        keep_rate, fuse):
    official = OfficialViT()
    state = official.state_dict()
    model = EViT(keep_rate=keep_rate, pruning_locs=LOCS, fuse_token=fuse, arch=ARCH,
                 img_size=IMG, patch_size=PATCH).double()
    result = model.load_state_dict(backbone_part(state), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    torch.manual_seed(3)
    img = torch.randn(3, 3, IMG, IMG, dtype=torch.float64)
    ref = official_evit_eval(official, img, keep_rate, fuse)
    torch.testing.assert_close(model(img)[-1], ref, rtol=1e-10, atol=1e-10)
    # and not the dense function (the test can tell pruning apart)
    dense = official_evit_eval(official, img, 1.0, fuse)
    assert (ref - dense).abs().max() > 1e-3


def test_converter_maps_the_official_evit_file():
    out = load_tool('model_converters/vit_to_mmdbp.py').convert_checkpoint({'model': OfficialViT().state_dict()})
    model = EViT(pruning_locs=LOCS, arch=ARCH, img_size=IMG, patch_size=PATCH).double()
    backbone = {k[len('backbone.'):]: v for k, v in out.items() if k.startswith('backbone.')}
    result = model.load_state_dict(backbone, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(out) - set('backbone.' + k for k in model.state_dict()) == {
        'head.layers.head.weight', 'head.layers.head.bias'}


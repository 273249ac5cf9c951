"""DynamicViTClassifier: the loss terms against explicit formulas, a frozen teacher loaded from its
checkpoint, gradients into the prediction modules, the predictor lr via paramwise_cfg."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS  # mmpretrain's scope, as configs with default_scope
from mmpretrain.structures import DataSample

import mmdbp  # noqa: F401  (registers mmdbp's components)

ARCH = dict(embed_dims=32, num_layers=6, num_heads=4, feedforward_channels=64)
VIT = dict(arch=ARCH, img_size=32, patch_size=8)
HEAD = dict(type='VisionTransformerClsHead', num_classes=5, in_channels=32)
TEACHER = dict(type='ImageClassifier', backbone=dict(type='FastVisionTransformer', **VIT),
               head=HEAD)


def student(**kwargs):
    cfg = dict(type='DynamicViTClassifier',
               backbone=dict(type='DynamicViT', keep_ratio=0.5, pruning_locs=(1, 3, 4), **VIT),
               head=HEAD, teacher=TEACHER)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def test_loss_terms_match_explicit_formulas():
    torch.manual_seed(0)
    model = student()
    model.init_weights()
    model.train()
    x, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    torch.manual_seed(1)
    losses = model.loss(x, samples(labels))
    assert {'loss_cls', 'loss_ratio', 'loss_distill', 'loss_token_distill'} <= set(losses)

    # the same forward by hand (same Gumbel noise), the formulas written out
    torch.manual_seed(1)
    outs, aux = model.backbone.forward_with_aux(x)
    logits = model.head(outs)
    torch.testing.assert_close(losses['loss_cls'], F.cross_entropy(logits, labels))
    ratio = sum(((d.mean(1) - r)**2).mean() for d, r in zip(aux['keep_decisions'],
                                                            (0.5, 0.25, 0.125))) / 3
    torch.testing.assert_close(losses['loss_ratio'], 2.0 * ratio)
    with torch.no_grad():
        t_feats = model.teacher.backbone(x)
        t_logits = model.teacher.head(t_feats)
    p_t = t_logits.softmax(-1)
    kl = (p_t * (p_t.log() - logits.log_softmax(-1))).sum(-1).mean()
    torch.testing.assert_close(losses['loss_distill'], 0.5 * kl)
    # token distillation: squared error over the kept tokens of the final decision only
    captured = {}
    h = model.teacher.backbone.norm.register_forward_hook(
        lambda m, a, o: captured.setdefault('t', o[:, 1:]))
    with torch.no_grad():
        model.teacher.backbone(x)
    h.remove()
    t_tokens = captured['t']
    keep = aux['policy']  # B, L of 0/1
    sq = ((aux['tokens'] - t_tokens)**2).mean(-1)  # B, L
    expected = (sq * keep).sum() / keep.sum()
    torch.testing.assert_close(losses['loss_token_distill'], 0.5 * expected)


def test_gradients_reach_the_prediction_modules_and_not_the_teacher():
    torch.manual_seed(0)
    model = student()
    model.init_weights()
    model.train()
    losses = model.loss(torch.randn(4, 3, 32, 32), samples([0, 1, 2, 3]))
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    for s, pred in enumerate(model.backbone.predictors):
        assert sum(p.grad.abs().sum() for p in pred.parameters()) > 0, f'stage {s}'
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    assert not model.teacher.training  # stays in eval mode inside a training model


def test_teacher_loaded_from_checkpoint(tmp_path):
    torch.manual_seed(3)
    dense = MODELS.build(TEACHER)
    dense.init_weights()
    ckpt = tmp_path / 'dense.pth'
    torch.save({'state_dict': dense.state_dict()}, ckpt)
    model = student(teacher_ckpt=str(ckpt))
    model.init_weights()
    for k, v in dense.state_dict().items():
        torch.testing.assert_close(model.teacher.state_dict()[k], v)


def test_inference_is_pruned_and_predicts():
    model = student().eval()
    lengths = []
    hooks = [b.norm1.register_forward_pre_hook(lambda m, a: lengths.append(a[0].shape[1]))
             for b in model.backbone.blocks]
    preds = model.predict(torch.randn(2, 3, 32, 32))
    assert [len(p.pred_score) for p in preds] == [5, 5]
    assert lengths == [17, 9, 9, 5, 3, 3]
    for h in hooks:
        h.remove()


def test_predictor_lr_via_paramwise_cfg():
    """mmengine applies the longest matching custom key: backbone at 0.01 of the lr, its
    prediction modules and the head at the full lr."""
    model = student()
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.01),
                                        'backbone.predictors': dict(lr_mult=1.0)})))
    lr_of = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lr_of[names[id(p)]] = group['lr']
    assert lr_of['backbone.predictors.0.in_conv.1.weight'] == pytest.approx(1e-3)
    assert lr_of['backbone.blocks.0.attn.qkv.weight'] == pytest.approx(1e-5)
    assert lr_of['head.layers.head.weight'] == pytest.approx(1e-3)


def test_bad_configs():
    with pytest.raises(ValueError, match='distillation needs a teacher'):
        student(teacher=None)
    with pytest.raises(TypeError, match='needs a backbone with forward_with_aux'):
        student(backbone=dict(type='FastVisionTransformer', **VIT))
    with pytest.raises(ValueError, match='is not a submodule of the teacher'):
        student(teacher_token_layer='backbone.ln1')
    model = student(teacher=None, distill_weight=0., token_distill_weight=0.)
    losses = model.train().loss(torch.randn(2, 3, 32, 32), samples([0, 1]))
    assert set(losses) == {'loss_cls', 'loss_ratio'}


@pytest.mark.parametrize('kwargs, warns', [
    (dict(), True),  # a teacher with random weights: say so
    (dict(teacher_ckpt='dense.pth'), False),
    (dict(teacher=dict(TEACHER, backbone=dict(
        TEACHER['backbone'], init_cfg=dict(type='Pretrained', checkpoint='dense.pth')))), False),
])
def test_teacher_without_weights_warns(kwargs, warns, monkeypatch):
    from mmdbp.models.classifiers import dynamic_vit_classifier
    messages = []
    monkeypatch.setattr(dynamic_vit_classifier, 'print_log',
                        lambda msg, *args, **kw: messages.append(msg))
    student(**kwargs)
    assert any('distils from random weights' in m for m in messages) == warns

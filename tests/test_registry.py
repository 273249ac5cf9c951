"""mmdbp's registry design: root registries, found from mmpretrain and mmseg scopes, no shadowing.

See docs/design.md. The lookups run in a fresh interpreter where only ``custom_imports`` of a
host-scoped config imports mmdbp, as for a user's own mmpretrain / mmseg config.
"""
import json
import subprocess
import sys
import textwrap

import pytest

HOST_SCOPES = ('mmpretrain', 'mmseg')


def _mmdbp_names():
    """{registry name: {component name: class}} of everything mmdbp registers (root registries)."""
    import mmdbp  # noqa: F401  (registers everything)
    import mmdbp.registry as reg
    out = {}
    for attr in reg.__all__:
        registry = getattr(reg, attr)
        assert registry.parent is None, f'mmdbp.registry.{attr} must be a root registry'
        names = {k: v for k, v in registry.module_dict.items()
                 if getattr(v, '__module__', '').startswith('mmdbp')}
        if names:
            out[attr] = names
    return out


def _host_child(registry, scope):
    """The host library's child of a root registry, with all its modules imported."""
    import importlib
    importlib.import_module(f'{scope}.registry')
    child = registry._children.get(scope)
    if child is not None:
        child.import_from_location()
    return child


def test_mmdbp_registers_something_in_the_root_registries():
    names = _mmdbp_names()
    assert 'RandomSubsetDataset' in names['DATASETS']
    assert 'FastVisionTransformer' in names['MODELS']


def test_no_mmdbp_name_is_shadowed_by_a_host_name():
    """A host registry is searched before the root: a clash would silently build the host's class."""
    import mmpretrain.datasets, mmpretrain.engine, mmpretrain.evaluation, mmpretrain.models  # noqa: E401,F401
    import mmpretrain.visualization  # noqa: F401
    import mmseg.datasets, mmseg.engine, mmseg.evaluation, mmseg.models, mmseg.visualization  # noqa: E401,F401
    import mmdbp.registry as reg
    clashes = []
    for attr, names in _mmdbp_names().items():
        for scope in HOST_SCOPES:
            child = _host_child(getattr(reg, attr), scope)
            if child is None:
                continue
            clashes += [f'{attr}.{n} also in {scope}' for n in names if n in child.module_dict]
    assert not clashes, 'rename these mmdbp components: ' + ', '.join(clashes)


LOOKUP_SCRIPT = textwrap.dedent('''
    import json, sys
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    assert 'mmdbp' not in sys.modules
    cfg = Config.fromfile(sys.argv[1])          # custom_imports imports mmdbp here
    assert 'mmdbp' in sys.modules, 'custom_imports did not import mmdbp'
    init_default_scope(cfg.default_scope)
    import importlib
    host = importlib.import_module(cfg.default_scope + '.registry')
    import mmdbp.registry as root
    result = {}
    # build an mmdbp component by plain name through the host's registries
    vit = host.MODELS.build(cfg.model)
    result['model'] = type(vit).__module__ + '.' + type(vit).__name__
    # a host component by plain name from the same config scope
    result['host_model'] = host.MODELS.get(cfg.host_model).__module__
    # every registered mmdbp component (hooks and optim wrappers included) resolves to itself
    missing, checked = [], {}
    for attr in root.__all__:
        reg = getattr(root, attr)
        child = getattr(host, attr, None) or reg
        for name, cls in reg.module_dict.items():
            if getattr(cls, '__module__', '').startswith('mmdbp'):
                checked[attr] = checked.get(attr, 0) + 1
                if child.get(name) is not cls:
                    missing.append(attr + '.' + name)
    result['missing'], result['checked'] = missing, checked
    print('RESULT' + json.dumps(result))
''')

CONFIG = textwrap.dedent('''
    default_scope = {scope!r}
    custom_imports = dict(imports=['mmdbp'], allow_failed_imports=False)
    model = dict(type='FastVisionTransformer', arch=dict(embed_dims=16, num_layers=1, num_heads=2,
                 feedforward_channels=32), img_size=32, patch_size=8)
    host_model = {host_model!r}
''')


@pytest.mark.parametrize('scope, host_model', [('mmpretrain', 'ImageClassifier'), ('mmseg', 'EncoderDecoder')])
def test_plain_name_lookup_from_host_scope(scope, host_model, tmp_path):
    cfg = tmp_path / f'{scope}_cfg.py'
    cfg.write_text(CONFIG.format(scope=scope, host_model=host_model))
    script = tmp_path / 'lookup.py'
    script.write_text(LOOKUP_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(cfg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split('RESULT', 1)[1])
    assert result['model'] == 'mmdbp.models.backbones.vit.FastVisionTransformer'
    assert result['host_model'].startswith(scope + '.')
    assert result['missing'] == []
    # every registry mmdbp uses was exercised, hooks at least (optim wrappers: see the probe test)
    assert set(result['checked']) == set(_mmdbp_names()) and result['checked'].get('HOOKS', 0) >= 1


def test_root_registration_reaches_both_scopes():
    """The mechanism itself: a class registered in mmdbp.registry is found from both host scopes."""
    from mmengine.hooks import Hook
    from mmengine.optim import OptimWrapper
    from mmengine.registry import DefaultScope

    import mmdbp.registry as reg
    import mmpretrain.registry as pre
    import mmseg.registry as seg

    @reg.HOOKS.register_module(name='_MmdbpProbeHook')
    class ProbeHook(Hook):
        pass

    @reg.OPTIM_WRAPPERS.register_module(name='_MmdbpProbeOptimWrapper')
    class ProbeWrapper(OptimWrapper):
        pass

    try:
        for host in (pre, seg):
            assert host.HOOKS.get('_MmdbpProbeHook') is ProbeHook
            assert host.OPTIM_WRAPPERS.get('_MmdbpProbeOptimWrapper') is ProbeWrapper
            with DefaultScope.overwrite_default_scope(host.HOOKS.scope):
                assert isinstance(reg.HOOKS.build(dict(type='_MmdbpProbeHook')), ProbeHook)
    finally:
        reg.HOOKS._module_dict.pop('_MmdbpProbeHook')
        reg.OPTIM_WRAPPERS._module_dict.pop('_MmdbpProbeOptimWrapper')

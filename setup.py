"""Install mmdbp: ``pip install -e .`` (develop) or ``pip install .``.

As the OpenMMLab packages do, the repository's ``configs/`` and ``tools/`` are shipped inside the
package as ``mmdbp/.mim`` (symlinks in editable installs, copies in wheels), so that
``mim train mmdbp <config>`` / ``mim test mmdbp <config>`` find them.
"""
import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmdbp', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


class OptionalBuildExt(build_ext):
    """Build mmdbp's one C extension, ``mmdbp._jpeg_crop_decode`` (decoding only the rows and
    columns of a JPEG that a random crop needs, with the system's libjpeg-turbo), or install
    without it where it cannot be built (no C compiler, no libjpeg-turbo headers, e.g. Debian's
    ``libjpeg62-turbo-dev``): ``FastRandomResizedCrop`` then decodes whole images with OpenCV,
    the same pixels, ~20% more decode time."""

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as e:  # compiler or header missing: the pure-Python path is complete
            warnings.warn(f'mmdbp: the optional extension {ext.name} was not built ({e}); '
                          'FastRandomResizedCrop will decode whole JPEGs. To build it, install a C '
                          'compiler and the libjpeg-turbo headers (Debian/Ubuntu: '
                          'libjpeg62-turbo-dev or libjpeg-turbo8-dev) and reinstall mmdbp.')


JPEG_CROP_DECODE = Extension('mmdbp._jpeg_crop_decode', sources=['mmdbp/csrc/jpeg_crop_decode.c'],
                             libraries=['jpeg'], extra_compile_args=['-O2'], optional=True)


def add_mim_extension() -> dict:
    """Expose configs/ and tools/ under mmdbp/.mim for openmim.

    Returns:
        dict: ``{path: link target}`` of the symlinks (an editable install's) that copy mode
        replaced; :func:`restore_links` puts them back after the build.
    """
    replaced = {}
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'install', 'build')):
        mode = 'copy'
    else:
        return replaced
    mim_dir = osp.join(HERE, 'mmdbp', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src = osp.join(HERE, name)
        dst = osp.join(mim_dir, name)
        if not osp.exists(src):
            continue
        if mode == 'copy' and osp.islink(dst):
            replaced[dst] = os.readlink(dst)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_dir), dst)
                continue
            except OSError:
                warnings.warn(f'cannot symlink {src}; copying it instead')
        if osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)
    return replaced


def restore_links(replaced: dict) -> None:
    """Put back the symlinks of an editable install that a wheel/sdist build replaced by copies
    (else ``mim train mmdbp`` in that install would read frozen copies of configs/ and tools/)."""
    for dst, target in replaced.items():
        if osp.isdir(dst) and not osp.islink(dst):
            shutil.rmtree(dst)
        elif osp.lexists(dst):
            os.remove(dst)
        os.symlink(target, dst)


if __name__ == '__main__':
    replaced_links = add_mim_extension()
    try:
        setup(
            name='mmdbp',
            version=get_version(),
            description='Cheaper ViT pre-training and token-pruned inference for OpenMMLab: '
            'DBP-MAE, GreenMIM, MIRL, masked fine-tuning + token pruning',
            long_description=(open(osp.join(HERE, 'README.md')).read()
                              if osp.exists(osp.join(HERE, 'README.md')) else ''),
            long_description_content_type='text/markdown',
            packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
            include_package_data=True,
            package_data={'mmdbp': ['.mim/configs/**/*', '.mim/tools/**/*', '.mim/model-index.yml']},
            python_requires='>=3.8',
            install_requires=['mmengine>=0.10.0', 'mmpretrain>=1.2.0', 'mmsegmentation>=1.2.0',
                              'codecarbon', 'matplotlib'],
            ext_modules=[JPEG_CROP_DECODE],
            cmdclass={'build_ext': OptionalBuildExt},
            license='Apache License 2.0',
            zip_safe=False,
        )
    finally:
        restore_links(replaced_links)

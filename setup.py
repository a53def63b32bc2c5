"""Packaging: the metadata is in pyproject.toml; this file only adds the data folders.

The templates stay at the top level of the source tree (the project's layout) and ship inside
the wheel as the data packages ``fastinference._data.<folder>`` (read them through
``fastinference.resources``). pyproject.toml cannot map folders and find packages at once.
"""
from setuptools import find_packages, setup

DATA_DIRS = ("hls_templates", "rtl_templates", "sim", "constraints")
DATA_PACKAGES = {f"fastinference._data.{d}": d for d in DATA_DIRS}

setup(
    packages=find_packages(include=["fastinference", "fastinference.*"]) + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    package_data={pkg: ["*"] for pkg in DATA_PACKAGES},
    exclude_package_data={pkg: ["__pycache__", "*.pyc"] for pkg in DATA_PACKAGES},
)

"""The demo dataset: a Dutch fashion retailer's exports, generated and loaded like user files.

`generate` writes the files (CSV, JSON Lines, Parquet) and `ground_truth.parquet`; `load`
creates one data source per file with a saved mapping and imports it.
"""

from c360.demo.catalogue import SOURCES, DemoSource
from c360.demo.generate import DemoFiles, generate
from c360.demo.load import load, missing_sources

__all__ = ["SOURCES", "DemoFiles", "DemoSource", "generate", "load", "missing_sources"]

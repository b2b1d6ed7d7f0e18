"""The embedded sample: a small local web and a matching Reddit dump, built offline by the project.

`build_site` is the in-memory web, `build_sample` writes the dump and the ground truth made from it,
and `serve_sample` answers for `SAMPLE_HOSTS` on loopback so that the real crawler can fetch it.
"""

from webtext.components.sample.build import SampleBuild, build_sample, ground_truth
from webtext.components.sample.pages import SAMPLE_HOSTS, build_site
from webtext.components.sample.server import sample_address, serve_sample
from webtext.components.sample.site import EXPECTED, KINDS, Expectation, Page, Site, Stream

__all__ = [
    "EXPECTED", "KINDS", "SAMPLE_HOSTS", "Expectation", "Page", "SampleBuild", "Site", "Stream",
    "build_sample", "build_site", "ground_truth", "sample_address", "serve_sample",
]

"""/metrics as a test reads it: samples by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


async def scrape(client, url: str = "/metrics") -> dict[tuple[str, tuple], float]:
    """The samples of a test client's /metrics (or of `url`, through any ClientSession)."""
    response = await client.get(url)
    assert response.status == 200
    assert response.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)

"""Developer tools over both stages: lint, explain, replay input, recipe tests, docs."""

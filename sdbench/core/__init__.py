"""Core: what every layer uses: the one error type (errors), atomic writes, progress lines, provenance, confidence
intervals (stats), the data contract every stage reads (types: Example, Segment) and the strict config loader.
May import: nothing else in sdbench.
"""

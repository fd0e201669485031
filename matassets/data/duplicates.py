"""Duplicate groups of the clean table: each structure's ``dup_group`` is the id of the first
structure it is identical to (itself if unique), so that splits keep identical structures on one side.

Rows with the same structure text are one structure without a comparison (the first row of each
text stands for the others); the rest is pymatgen's ``StructureMatcher`` within a reduced formula,
in the worker processes. Validation (``data.validation``) calls this once its batches are written.
"""

from __future__ import annotations

import json
import warnings

import polars as pl

from matassets.data import schema
from matassets.data.parsing import structure_from_dict
from matassets.data.workers import WorkerPool

DUP_GROUP = "dup_group"


def _group_chunk(buckets: list[list[tuple[str, str]]]) -> list[dict[str, str]]:
    return [_group_bucket(b) for b in buckets]


def _group_bucket(members: list[tuple[str, str]]) -> dict[str, str]:
    """{id: id of the first structure it is identical to} within one reduced formula."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    structures = [structure_from_dict(json.loads(text)) for _, text in members]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clusters = StructureMatcher().group_structures(structures)
    index = {id(s): rid for s, (rid, _) in zip(structures, members, strict=True)}
    return {index[id(s)]: index[id(cluster[0])] for cluster in clusters for s in cluster}


def duplicate_groups(keys: pl.DataFrame, clean: pl.LazyFrame, pool: WorkerPool | None = None) -> pl.DataFrame:
    """``id`` → ``dup_group``: the id of the first structure each one is identical to (itself if
    unique), for the clean rows ``keys`` lists in table order (``id``, ``formula``, ``digest`` of the
    structure text); ``clean`` gives the texts.

    Rows with the same text (the clean table's canonical pymatgen JSON: the same file given twice, a
    data set appended to itself) are one structure without a comparison; then only the first row of
    each text is compared, and only with structures of the same reduced formula, by
    ``StructureMatcher`` in the worker processes, the largest formula first. Exact copies would
    otherwise be matched one pair at a time: at 10k files of which a third were copies, that was
    56 of the 87 s of ingestion (docs/benchmarks.md)."""
    ids = keys[schema.ID].to_list()
    same_text = keys.group_by("digest", maintain_order=True).agg(pl.col(schema.ID))[schema.ID]
    first_of: dict[str, str] = {}  # id of every row -> the first row with its text
    for same in same_text:
        first_of.update(dict.fromkeys(same, same[0]))
    firsts = keys.filter(pl.col(schema.ID).is_in(same_text.list.first().implode()))
    repeated = firsts.filter(pl.col(schema.FORMULA).is_duplicated())
    groups = dict(zip(ids, ids, strict=True))
    if repeated.height:
        texts = clean.select(schema.ID, schema.STRUCTURE).filter(
            pl.col(schema.ID).is_in(repeated[schema.ID].implode())
        )
        text_of = dict(texts.collect().iter_rows())
        by_formula: dict[str, list[tuple[str, str]]] = {}
        for rid, formula in repeated.select(schema.ID, schema.FORMULA).iter_rows():
            by_formula.setdefault(formula, []).append((rid, text_of[rid]))
        buckets = sorted(by_formula.values(), key=len, reverse=True)
        pool = pool or WorkerPool(1)
        n = max(1, pool.workers * 4)
        chunks = [buckets[k::n] for k in range(n) if buckets[k::n]]
        for results in pool.map(_group_chunk, chunks):
            for found in results:
                groups.update(found)
    return pl.DataFrame(
        {schema.ID: ids, DUP_GROUP: [groups[first_of[rid]] for rid in ids]},
        schema={schema.ID: pl.String(), DUP_GROUP: pl.String()},
    )

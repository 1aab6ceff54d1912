"""Tenant isolation as properties over many generated cases (hypothesis): names, and what a store lets a tenant see.

- Names: under strict isolation two different tenants never share a store collection, and no name a caller may
  give is another tenant's store collection.
- Store: tenants with generated documents in generated collections of one Edge store; every query of every tenant
  returns only its own chunks, and a collection it does not hold reads exactly as one that does not exist.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.access.document_access import Reader
from rag.access.namespace import CollectionNamespace, check_collection
from rag.components import fusion as fusion_of
from rag.domain import Chunk, SparseVector
from rag.errors import InvalidInput, NotFound
from rag.settings import RetrievalSettings
from rag.store.edge import EdgeStore

FUSION = fusion_of(RetrievalSettings())  # the platform's default fusion, for hybrid queries

TENANTS = st.text(min_size=1, max_size=80)  # any string an API keys file may map a key to
COLLECTIONS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True)
HOME = "default"


@settings(max_examples=500, deadline=None)
@given(collection=COLLECTIONS, a=TENANTS, b=TENANTS)
def test_two_tenants_never_share_a_store_collection(collection: str, a: str, b: str) -> None:
    names = CollectionNamespace("strict", home_tenant=HOME)
    if a != b:
        assert names.store_name(collection, a) != names.store_name(collection, b)
    else:
        assert names.store_name(collection, a) == names.store_name(collection, b)


@settings(max_examples=500, deadline=None)
@given(given_name=st.text(max_size=80), collection=COLLECTIONS, owner=TENANTS)
def test_no_name_a_caller_gives_is_another_tenants_store_collection(
    given_name: str, collection: str, owner: str
) -> None:
    names = CollectionNamespace("strict", home_tenant=HOME)
    theirs = names.store_name(collection, owner)
    try:
        check_collection(given_name)
    except InvalidInput:
        return  # refused before any store is asked
    if owner != HOME:
        assert given_name != theirs and "@" not in given_name


# A tenant's documents: collection -> texts (each text one chunk); tenants are few, so collisions of names happen.
DOCS = st.dictionaries(
    st.sampled_from(["docs", "notes", "shared"]),
    st.lists(st.sampled_from(["alpha", "beta", "gamma"]), min_size=1, max_size=3),
    min_size=1,
    max_size=2,
)
LAYOUTS = st.dictionaries(
    st.sampled_from(["default", "acme", "beta corp", "ü-tenant", "x@y"]), DOCS, min_size=2, max_size=4
)
WORD_IDS = {"alpha": 1, "beta": 2, "gamma": 3}


def _chunk(tenant: str, collection: str, i: int, word: str) -> Chunk:
    return Chunk(
        tenant=tenant, doc_id=f"{collection}-{i}", doc_hash="h", chunk_index=0, text=word, title="", source="s",
        metadata={},
    )  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=LAYOUTS)
def test_every_query_of_every_tenant_sees_only_its_own_chunks(layout: dict[str, dict[str, list[str]]]) -> None:
    names = CollectionNamespace("strict", home_tenant=HOME)
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore.under(Path(tmp))
        try:
            for tenant, collections in layout.items():
                for collection, words in collections.items():
                    name = names.store_name(collection, tenant)
                    store.ensure_collection(name, 2)
                    chunks = [_chunk(tenant, collection, i, w) for i, w in enumerate(words)]
                    sparse = [SparseVector([WORD_IDS[w]], [1.0]) for w in words]
                    store.upsert(name, chunks, [[1.0, 0.0]] * len(chunks), sparse)
            for tenant, collections in layout.items():
                for collection in ("docs", "notes", "shared"):
                    name = names.store_name(collection, tenant)
                    for index in WORD_IDS.values():
                        query = SparseVector([index], [1.0])
                        if collection not in collections:
                            with pytest.raises(NotFound):
                                store.query(name, reader=Reader.whole_tenant(tenant), mode="hybrid", dense=[1.0, 0.0],
                                            sparse=query, limit=10, prefetch_limit=10, fusion=FUSION)  # fmt: skip
                            continue
                        hits = store.query(
                            name, reader=Reader.whole_tenant(tenant), mode="hybrid", dense=[1.0, 0.0], sparse=query,
                            limit=10,
                            prefetch_limit=10,
                            fusion=FUSION,
                        )  # fmt: skip
                        assert {h.chunk.tenant for h in hits} <= {tenant}
                        # exactly its own chunks of that collection: all of them, nothing of anyone else
                        assert sorted(h.chunk.text for h in hits) == sorted(collections[collection])
        finally:
            store.close()

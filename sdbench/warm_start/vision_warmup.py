"""Vision warm-up of the embedded default: the vision tower learns to name what lies under each vision token.

SFT alone teaches a tiny VLM the output format long before it teaches it to see: the gradient that reaches the
vision tower comes only from the few attribute words of each reference, through a randomly initialised decoder.
On 2 CPU cores that is thousands of steps of ~1 s (README, "The embedded default model"). This warm-up gives the
vision tower a direct signal first, from the synthetic multipanel generator's own ground truth (its scene graphs):

    for every merged vision token (one 28 x 28 px block of the resized image) predict, with linear heads on the
    merger output (the vectors the decoder reads), the colour, shape, size and grid cell of the object under
    it, or 'none' (background, header strip, frame)

A token is labelled with an object when it holds the object's centre or its own centre lies inside the
object's box, so every object labels at least one token, however small. It needs no text decoder pass, so a
step costs ~0.1 s instead of ~1 s of SFT; the heads are thrown away afterwards.

Pure parts (`token_targets`) take a scene-graph list and the token grid and return label tensors; the loop
(`vision_warmup`) trains `policy.model`'s vision tower in place.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sdbench.core.errors import SdbenchError
from sdbench.data.sources.panel_renderer import object_box, tile_layout
from sdbench.data.sources.scene_graph import COLOURS, GRID, POSITIONS, SHAPES, SIZES

if TYPE_CHECKING:
    import torch

    from sdbench.core.types import Example

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "colour": tuple(COLOURS), "shape": tuple(SHAPES), "size": tuple(SIZES), "cell": tuple(POSITIONS)}
"""Head name -> its classes; class 0 of every head is 'none' (no object under the token), class i+1 = names[i]."""
POSITIONS_INDEX = {name: i for i, name in enumerate(POSITIONS)}


def token_targets(scene_graphs: Sequence[dict[str, Any]], panel_size: int, image_size: tuple[int, int],
                  grid: tuple[int, int]) -> dict[str, list[int]]:
    """Labels of each merged vision token of one tiled multipanel image.

    scene_graphs: the example's meta["scene_graphs"] (one per panel, row-major as tiled); panel_size: the
    source's panel_size option; image_size: (width, height) of the tiled image; grid: (rows, cols) of merged
    tokens of the resized image. Returns {head: [class per token]} in raster order (rows x cols entries).

    >>> graph = {"background": "white", "objects": [{"colour": "red", "shape": "circle", "size": "large",
    ...          "position": "center", "offset": [0.0, 0.0]}]}
    >>> t = token_targets([graph], 128, (136, 156), (2, 2))
    >>> sum(c > 0 for c in t["colour"]) >= 1 and set(t["colour"]) <= {0, 1}
    True
    """
    rows, cols = grid
    width, height = image_size
    layout = tile_layout(len(scene_graphs), panel_size)
    if (layout.width, layout.height) != (width, height):
        raise SdbenchError(f"image is {width}x{height} px but {len(scene_graphs)} panels of {panel_size} px tile to "
                           f"{layout.width}x{layout.height}: the example was not made by this panel_size")
    sx, sy = width / cols, height / rows                                  # original px per token
    labels = {head: [0] * (rows * cols) for head in ATTRIBUTES}
    for j, graph in enumerate(scene_graphs):
        ox, oy = layout.panel_origin(j)
        for obj in graph["objects"]:
            cell = POSITIONS_INDEX[obj["position"]]
            x0, y0, x1, y1 = object_box(cell // GRID, cell % GRID, obj["size"], tuple(obj["offset"]), panel_size)
            x0, y0, x1, y1 = x0 + ox, y0 + oy, x1 + ox, y1 + oy
            hit = {(min(rows - 1, int((y0 + y1) / 2 / sy)), min(cols - 1, int((x0 + x1) / 2 / sx)))}
            hit |= {(r, c) for r in range(rows) for c in range(cols)
                    if x0 <= (c + 0.5) * sx <= x1 and y0 <= (r + 0.5) * sy <= y1}
            values = {"colour": obj["colour"], "shape": obj["shape"], "size": obj["size"], "cell": obj["position"]}
            for r, c in hit:
                for head, names in ATTRIBUTES.items():
                    labels[head][r * cols + c] = names.index(values[head]) + 1
    return labels



class WordHead:
    """A classifier whose class vectors are the decoder's (fixed) input embeddings of the class names' words, plus
    a learned 'none' vector: vision features are pulled towards the embedding of the word that names them."""

    def __init__(self, embedding, word_ids: list[int]):
        import torch

        self.words = embedding.weight.detach()[word_ids].clone()                       # (C, dim)
        self.none = torch.nn.Parameter(torch.zeros(1, self.words.shape[1]))             # (1, dim)
        self.bias = torch.nn.Parameter(torch.zeros(len(word_ids) + 1))                  # (C + 1,)

    def parameters(self):
        return [self.none, self.bias]

    def __call__(self, features):                                                       # (N, dim) -> (N, C + 1)
        import torch

        return features @ torch.cat([self.none, self.words]).T + self.bias


def word_ids(tokenizer, names: Sequence[str]) -> list[int] | None:
    """Token id of ' <name>' for each name, or None when some name is not a single token."""
    ids = [tokenizer.encode(" " + name, add_special_tokens=False) for name in names]
    return [i[0] for i in ids] if all(len(i) == 1 for i in ids) else None


def vision_warmup(policy, examples: Sequence[Example], panel_size: int, steps: int, batch_size: int,
                  learning_rate: float, seed: int, on_step: Callable[[int, dict], None] | None = None,
                  word_heads: bool = True) -> None:
    """Train `policy.model`'s vision tower (patch embedding, blocks, merger) for `steps` steps of `batch_size`
    multipanel examples on the token labels above; the heads are discarded. word_heads: a head whose class names
    are single tokens of the tokenizer scores features against those words' input embeddings (WordHead), the
    rest are linear. Batches are drawn by (seed, step) alone, so the warm-up is reproducible."""
    import torch

    visual = _vision_tower(policy.model)
    merge = visual.spatial_merge_size
    dim = visual.merger.mlp[-1].out_features if hasattr(visual.merger, "mlp") else None
    if dim is None:
        raise SdbenchError("vision warm-up: this vision tower has no merger MLP (Qwen2-VL / Qwen2.5-VL only)")
    torch.manual_seed(seed)
    embedding = policy.model.get_input_embeddings()
    heads: dict[str, Any] = {}
    for head, names in ATTRIBUTES.items():
        ids = word_ids(policy.tokenizer, names) if word_heads else None
        heads[head] = WordHead(embedding, ids) if ids else torch.nn.Linear(dim, len(names) + 1)
    params = [p for p in visual.parameters() if p.requires_grad] + [p for h in heads.values() for p in h.parameters()]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    visual.train()
    image_processor = policy.processor.image_processor
    for step in range(steps):
        rng = random.Random(f"vision-warmup-{seed}-{step}")
        batch = [rng.choice(examples) for _ in range(batch_size)]
        inputs = image_processor(images=[ex.images[0] for ex in batch], return_tensors="pt")
        grid_thw = inputs["image_grid_thw"]                                             # (B, 3) t, h, w patches
        targets = {head: [] for head in ATTRIBUTES}
        for ex, (_, h, w) in zip(batch, grid_thw.tolist()):
            labels = token_targets(ex.meta["scene_graphs"], panel_size, ex.images[0].size, (h // merge, w // merge))
            for head in ATTRIBUTES:
                targets[head] += labels[head]
        features = visual(inputs["pixel_values"], grid_thw=grid_thw).pooler_output    # (N tokens, dim)
        losses = {head: torch.nn.functional.cross_entropy(heads[head](features), torch.tensor(targets[head]))
                  for head in ATTRIBUTES}
        loss = sum(losses.values())
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * min(1.0, (step + 1) / max(1, steps // 20))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if on_step is not None:
            with torch.no_grad():
                object_tokens = torch.tensor(targets["shape"]) > 0
                accuracy = {f"accuracy/{head}": float((heads[head](features).argmax(-1) == torch.tensor(targets[head]))
                                                      [object_tokens].float().mean()) for head in ATTRIBUTES}
            on_step(step, {"loss": float(loss.detach()), **accuracy})
    visual.eval()


def _vision_tower(model) -> torch.nn.Module:
    for path in ("model.visual", "visual"):
        obj = model
        for name in path.split("."):
            obj = getattr(obj, name, None)
        if obj is not None:
            return obj
    raise SdbenchError(f"vision warm-up: {type(model).__name__} has no Qwen2-VL style vision tower (model.visual)")

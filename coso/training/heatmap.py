"""Token heatmaps of CoSo's causal weights: which tokens of sampled actions the entropy bonus favours."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from coso.data.buffer import TransitionBatch  # noqa: E402

MAX_ROWS = 4
MAX_TOKENS = 80


class TokenHeatmapWriter:
    """Every ``every`` actor batches, draws the tokens of a few actions coloured by their causal weight."""

    def __init__(self, out_dir: Path, tokenizer, every: int) -> None:
        self.out_dir = Path(out_dir)
        self.tokenizer = tokenizer
        self.every = int(every)
        self.batches = 0

    def observe(self, batch: TransitionBatch, weights: torch.Tensor | None) -> Path | None:
        """Count a batch; on every ``every``-th one with weights, write a PNG and return its path."""
        if self.every <= 0 or weights is None:
            return None
        self.batches += 1
        if self.batches % self.every:
            return None
        return self.draw(batch.actions[:MAX_ROWS], weights[:MAX_ROWS].detach().float().cpu(),
                         self.out_dir / f"weights_{self.batches:06d}.png")

    def draw(self, actions: list[str], weights: torch.Tensor, path: Path) -> Path:
        """One row per action: each token's text on a cell shaded by its weight in [0, 1]."""
        rows = []
        for action, row_weights in zip(actions, weights):
            ids = self.tokenizer(action, truncation=True, max_length=weights.shape[1])["input_ids"]
            tokens = [self.tokenizer.decode([token_id]) for token_id in ids][:MAX_TOKENS]
            rows.append((tokens, row_weights[: len(tokens)].tolist()))
        width = max((len(tokens) for tokens, _ in rows), default=1)
        figure, axis = plt.subplots(figsize=(min(0.45 * width + 1, 40), 0.7 * len(rows) + 1))
        grid = torch.full((len(rows), width), float("nan"))
        for index, (_, values) in enumerate(rows):
            grid[index, : len(values)] = torch.tensor(values)
        image = axis.imshow(grid.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        for row_index, (tokens, _) in enumerate(rows):
            for column, token in enumerate(tokens):
                axis.text(column, row_index, token.strip() or "␣", ha="center", va="center", fontsize=6,
                          color="white", rotation=90)
        axis.set_yticks(range(len(rows)))
        axis.set_xticks([])
        axis.set_title("CoSo causal token weights (brighter = decides the parsed action)")
        figure.colorbar(image, ax=axis, fraction=0.02)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.stem}.tmp.png")
        figure.savefig(temporary, dpi=90, bbox_inches="tight")
        plt.close(figure)
        temporary.replace(path)
        return path

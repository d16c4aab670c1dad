"""A connector that keeps time: visual tokens averaged per time step of their grid, then mapped to the LLM width."""
import torch
from torch import nn


class TimeStepConnector(nn.Module):
    """Map visual tokens (B, N, input_dim) on a (T', H', W') grid to (B, Q, output_dim), Q = num_time_steps.

    Tokens are averaged over H' x W' per time step (adaptively pooled to Q steps), then a two-layer MLP maps each
    step to the LLM width. `input_dim` and `output_dim` are injected by the parent model (AEGIS's Connector
    contract); `num_output_tokens` tells it how many prefix tokens to expect.
    """

    def __init__(self, input_dim: int, output_dim: int, num_time_steps: int = 4, hidden_size: int = 64) -> None:
        super().__init__()
        if num_time_steps < 1:
            raise ValueError(f"TimeStepConnector.num_time_steps={num_time_steps}: expected >= 1")
        self.input_dim, self.output_dim, self.num_output_tokens = input_dim, output_dim, num_time_steps
        self.mlp = nn.Sequential(nn.Linear(input_dim, hidden_size), nn.GELU(), nn.Linear(hidden_size, output_dim))

    def forward(self, visual_tokens: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        batch, tokens, width = visual_tokens.shape
        steps = grid[0] if grid is not None else tokens
        per_step = visual_tokens.reshape(batch, steps, tokens // steps, width).mean(2)  # (B, T', Dv)
        pooled = nn.functional.adaptive_avg_pool1d(per_step.transpose(1, 2), self.num_output_tokens)  # (B, Dv, Q)
        return self.mlp(pooled.transpose(1, 2))  # (B, Q, output_dim)

"""The Hedge mixer: a weighted mixture of normalized next-token distributions, learned online.

Experts (each a full distribution over the V-token vocabulary, computed from already-scored
tokens and the model only):
    neural       softmax(z)                          z = the model's logits
    neural_tT    softmax(z / T)                      optional temperature-scaled copies
    unigram      (c[y] + a) / (N + aV)               counts of scored tokens
    bigram       (C[p1, y] + a) / (C[p1] + aV)       p1 = previous token
    trigram      (H[h, y] + b) / (H[h] + bV)         h = hash(p2, p1): context tokens only
The score of target y is −log Σ_k w_k p_k(y), with weights w (a softmax of log-weights) fixed
before y is seen. The n-gram distribution of every target counts exactly the tokens before it:
a batch of targets reads the count tables (tokens of earlier batches) plus, through a stable
sort, the earlier targets of its own batch, and is added to the tables only after all of it is
scored. Every `update_tokens` scored tokens (at fixed stream positions, so batching and rank
count do not change the result) the weights move: "eg" is exponentiated gradient on the
mixture's own log loss
(w_k ← w_k·exp(η·mean p_k(y)/p_mix(y))), "hedge" the classic rule on each expert's log loss
(w_k ← w_k·exp(−η·mean −log p_k(y))). Because every p_k sums to one, so does the mixture:
`distribution` builds it over the whole vocabulary and `check_normalization` asserts it.

The public 5-expert mixer also had an "entropy expert" that gave every candidate token the same
score exp(−H(p_neural)); that is not a distribution (its mass is V·e^{−H}, ≈139 for H = 2 nats),
so it is not offered here (docs/EVAL.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from golfcli.config.eval import EvalConfig
from golfcli.errors import GolfError

NGRAM_EXPERTS = ("unigram", "bigram", "trigram")
NORMALIZATION_TOLERANCE = 1e-6
HASH_A, HASH_B = 36313, 27191  # the public mixer's trigram hash multipliers


def trigram_bucket(p2: torch.Tensor, p1: torch.Tensor, table_size: int) -> torch.Tensor:
    """Hash bucket of the two context tokens (p2, p1); the predicted token is never part of the key."""
    return torch.bitwise_xor(p2 * HASH_A, p1 * HASH_B) % table_size


def earlier_equal(keys: torch.Tensor) -> torch.Tensor:
    """For each position, how many earlier positions hold the same key (a stable sort, no loop)."""
    n = keys.numel()
    order = torch.sort(keys, stable=True).indices
    ordered = keys[order]
    idx = torch.arange(n, device=keys.device)
    starts = torch.ones(n, dtype=torch.bool, device=keys.device)
    starts[1:] = ordered[1:] != ordered[:-1]
    group_start = torch.cummax(torch.where(starts, idx, torch.zeros_like(idx)), 0).values
    out = torch.empty_like(idx)
    out[order] = idx - group_start
    return out


class NgramCounts:
    """Unigram, bigram and hashed-trigram counts of scored tokens, on the device.

    Each expert is a table of rows × V int32 counts plus int64 row totals; its row is the
    context: always 0 for the unigram, p1 for the bigram, hash(p2, p1) for the trigram.
    """

    def __init__(self, vocab_size: int, table_size: int, experts: tuple[str, ...], device: torch.device):
        self.vocab_size, self.table_size, self.experts = vocab_size, table_size, experts
        rows = {"unigram": 1, "bigram": vocab_size, "trigram": table_size}
        self.cells = {e: torch.zeros(rows[e] * vocab_size, dtype=torch.int32, device=device) for e in experts}
        self.totals = {e: torch.zeros(rows[e], dtype=torch.int64, device=device) for e in experts}

    def row_of(self, expert: str, p2: torch.Tensor, p1: torch.Tensor) -> torch.Tensor:
        """The table row each context (p2, p1) reads."""
        if expert == "unigram":
            return torch.zeros_like(p1)
        if expert == "bigram":
            return p1
        return trigram_bucket(p2, p1, self.table_size)

    def add(self, p2: torch.Tensor, p1: torch.Tensor, y: torch.Tensor) -> None:
        """Count the (p2, p1, y) triples of scored targets."""
        ones32 = torch.ones(y.shape, dtype=torch.int32, device=y.device)
        for e in self.experts:
            row = self.row_of(e, p2, p1)
            self.cells[e].index_add_(0, row * self.vocab_size + y, ones32)
            self.totals[e].index_add_(0, row, torch.ones_like(row))

    def logprobs(self, p2: torch.Tensor, p1: torch.Tensor, y: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """(P, experts) log p(y | p2, p1), float32, for consecutive targets not yet added to the tables.

        Each position counts the tables plus the earlier positions of the same call, so every
        target sees exactly the tokens before it.
        """
        counts, totals = [], []
        for e in self.experts:
            row = self.row_of(e, p2, p1)
            cell = row * self.vocab_size + y
            counts.append(self.cells[e][cell] + earlier_equal(cell))
            totals.append(self.totals[e][row] + earlier_equal(row))
        c, t = torch.stack(counts, 1).double(), torch.stack(totals, 1).double()
        return (torch.log(c + alphas) - torch.log(t + alphas * self.vocab_size)).float()

    def row(self, expert: str, p2: int, p1: int, alpha: float, pending: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The expert's whole distribution (float64, length V) after context (p2, p1), counting
        the tables plus the `pending` (p2, p1, y) triples not yet added to them."""
        V = self.vocab_size
        device = self.totals[expert].device
        r = int(self.row_of(expert, torch.tensor([p2], device=device), torch.tensor([p1], device=device))[0])
        counts = self.cells[expert][r * V:(r + 1) * V].double()
        pp2, pp1, py = pending
        if py.numel():
            same = self.row_of(expert, pp2, pp1) == r
            counts = counts + torch.bincount(py[same], minlength=V).double()
        return (counts + alpha) / (counts.sum() + alpha * V)


class HedgeMixer:
    """Online mixture of the neural distribution(s) and n-gram experts over a token stream.

    `tokens` is the whole stream (on the mixer's device); positions are addressed by slot
    (target index − 1). Call `neural_logprobs` on the logits of scored positions, then `score`
    on consecutive runs of slots in stream order.
    """

    def __init__(self, cfg: EvalConfig, vocab_size: int, tokens: torch.Tensor):
        self.cfg = cfg
        self.tokens = tokens
        self.device = tokens.device
        self.temperatures = [float(t) for t in cfg.hedge_temperatures] if "neural" in cfg.hedge_experts else []
        self.use_neural = "neural" in cfg.hedge_experts
        self.ngram = tuple(e for e in cfg.hedge_experts if e in NGRAM_EXPERTS)
        self.names = (["neural"] if self.use_neural else []) + [f"neural_t{t:g}" for t in self.temperatures]
        self.names += list(self.ngram)
        self.counts = NgramCounts(vocab_size, cfg.hedge_table_size, self.ngram, self.device)
        alphas = [cfg.hedge_trigram_alpha if e == "trigram" else cfg.hedge_alpha for e in self.ngram]
        self.alphas = torch.tensor(alphas, dtype=torch.float64, device=self.device)
        self.log_w = torch.log(torch.tensor(self._initial_weights(), dtype=torch.float64, device=self.device))
        self.next_update = cfg.hedge_update_tokens  # slot at which the weights next move
        self.pending_from = 0
        self.pending_stat = torch.zeros(len(self.names), dtype=torch.float64, device=self.device)
        self.scored_to = 0
        self.checks = 0
        self.max_check_error = 0.0

    def _initial_weights(self) -> list[float]:
        if self.cfg.hedge_init_weights is not None:
            w = [float(v) for v in self.cfg.hedge_init_weights]
            return [v / sum(w) for v in w]
        k = len(self.names)
        if k == 1:
            return [1.0]
        if not self.use_neural:
            return [1.0 / k] * k
        return [0.9] + [0.1 / (k - 1)] * (k - 1)

    @property
    def weights(self) -> dict[str, float]:
        """The current mixture weights by expert name."""
        w = torch.softmax(self.log_w, 0).tolist()
        return dict(zip(self.names, w))

    def neural_logprobs(self, logits: torch.Tensor, nll: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(P, 1 + temperatures) log-probabilities of the targets under the model and its temperature copies."""
        cols = [-nll] if self.use_neural else []
        cols += [-F.cross_entropy(logits / t, targets, reduction="none") for t in self.temperatures]
        if not cols:
            return torch.zeros(nll.shape[0], 0, device=nll.device)
        return torch.stack(cols, 1)

    def _context(self, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = self.tokens[slots + 1]
        p1 = self.tokens[slots]
        p2 = torch.where(slots > 0, self.tokens[(slots - 1).clamp_min(0)], torch.zeros_like(slots))
        return p2, p1, y

    def score(self, first: int, neural_lp: torch.Tensor,
              check: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Mixture NLL (nats, float32) of the slots first, first+1, ...; then learn from them.

        `neural_lp` is (P, neural experts) from `neural_logprobs`. Slots must continue exactly
        where the previous call stopped. Each target's n-gram distributions count every token
        before it; the weights move at every update point (fixed stream positions), from the
        tokens scored since the previous one. `check` = (slots (S,), logits (S, V)): positions
        whose full mixture is built and asserted to sum to 1 with the state that scores them.
        """
        if first != self.scored_to:
            raise RuntimeError(f"hedge mixer expected slot {self.scored_to}, got {first}")
        n = neural_lp.shape[0]
        if n == 0:
            return torch.zeros(0, device=self.device)
        context = self._context(torch.arange(first, first + n, device=self.device))
        lp = neural_lp.float()
        if self.ngram:
            lp = torch.cat([lp, self.counts.logprobs(*context, self.alphas)], 1)
        out = []
        lo = 0
        while lo < n:  # pieces end at weight-update points
            hi = min(n, lo + self.next_update - (first + lo))
            out.append(self._mix_piece(first + lo, lp[lo:hi], check))
            lo = hi
            if first + lo == self.next_update:
                self._update_weights(first + lo)
        if self.ngram:
            self.counts.add(*context)  # only now, after every target of the call is scored
        self.scored_to = first + n
        return torch.cat(out)

    def _mix_piece(self, first: int, lp: torch.Tensor,
                   check: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        if lp.shape[1] == 1:  # a single expert: its own log-prob, bit for bit
            mix = lp[:, 0]
            stat = -lp.double().sum(0) if self.cfg.hedge_rule == "hedge" else lp.new_full((1,), lp.shape[0]).double()
        else:
            logw = torch.log_softmax(self.log_w, 0).float()
            mix = torch.logsumexp(lp + logw[None, :], 1)
            if self.cfg.hedge_rule == "hedge":
                stat = -lp.double().sum(0)
            else:
                stat = torch.exp(lp.double() - mix.double()[:, None]).sum(0)
        self.pending_stat += stat
        if check is not None:
            self._check(first, -mix, *check)
        return -mix

    def _update_weights(self, upto: int) -> None:
        mean = self.pending_stat / (upto - self.pending_from)
        sign = 1.0 if self.cfg.hedge_rule == "eg" else -1.0
        self.log_w = torch.log_softmax(self.log_w + sign * self.cfg.hedge_eta * mean, 0)
        self.pending_stat.zero_()
        self.pending_from = upto
        self.next_update = upto + self.cfg.hedge_update_tokens

    def distribution(self, slot: int, logits: torch.Tensor) -> torch.Tensor:
        """The mixture's full distribution (float64, length V) for the target at `slot`: current
        weights, n-gram counts of every token before the target."""
        z = logits.double()
        rows = [torch.softmax(z, -1)] if self.use_neural else []
        rows += [torch.softmax(z / t, -1) for t in self.temperatures]
        p1 = int(self.tokens[slot])
        p2 = int(self.tokens[slot - 1]) if slot > 0 else 0
        pending = self._context(torch.arange(self.scored_to, slot, device=self.device))
        rows += [self.counts.row(e, p2, p1, float(a), pending) for e, a in zip(self.ngram, self.alphas.tolist())]
        w = torch.softmax(self.log_w, 0)
        return (w[:, None] * torch.stack(rows)).sum(0)

    def _check(self, lo: int, mixed_nll: torch.Tensor, check_slots: torch.Tensor,
               check_logits: torch.Tensor) -> None:
        hi = lo + mixed_nll.shape[0]
        for i, slot in enumerate(check_slots.tolist()):
            if not lo <= slot < hi:
                continue
            p = self.distribution(slot, check_logits[i])
            total = float(p.sum())
            error = abs(total - 1.0)
            self.checks += 1
            self.max_check_error = max(self.max_check_error, error)
            if error > NORMALIZATION_TOLERANCE:
                raise GolfError(f"hedge mixture sums to {total!r} over the vocabulary at target {slot + 1}")
            y = int(self.tokens[slot + 1])
            scored = float(mixed_nll[slot - lo])
            if not math.isclose(-math.log(float(p[y])), scored, rel_tol=1e-4, abs_tol=1e-4):
                raise GolfError(f"hedge score {scored:.6f} at target {slot + 1} is not −log of the mixture "
                                f"({-math.log(float(p[y])):.6f})")

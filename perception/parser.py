"""The question parser: prompt -> program of the query language, decoding held to the grammar.

A frozen language model (``perception.text_encoders``: the VLM's own, or SmolLM2) reads the prompt;
each word of it becomes one vector (the mean states of its tokens at a few layers). A bidirectional GRU encodes the
words; a GRU decoder writes the program's symbols (``envs.program_tokens``) one at a time, each
step from its previous symbol, the grammar position it fills (which field of which primitive) and
attention over the words. A symbol's probability has two sources, mixed in one softmax (a
pointer-generator): *generating* it from the vocabulary, or *pointing* at a word of the prompt that
names it (a colour, shape, fixture, material, direction or number: ``program_tokens.symbol_words``).
Pointing is what lets the parser write a value it never wrote in training when the question names
it ("the platform", "position +3").

Decoding is greedy and masked by ``GrammarState.allowed()``, so every output is a valid program.
The parse confidence is the lowest probability of a chosen symbol (and their mean).

Nothing the model reads or writes is executed: the output is a symbol sequence turned into a JSON
program and validated against the grammar.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from physground.envs.program_tokens import END, SYMBOL_ID, VOCABULARY, GrammarState, symbol_words
from physground.envs.programs import HEADS, OPS, Program
from physground.perception.text_encoders import TextEncoder, text_encoder

WORD = re.compile(r"[+-]?\d+|[a-z]+")
"""A word of a prompt: a signed or unsigned integer, or a run of letters (lower-cased text)."""
MAX_SYMBOLS = 96
"""Decoding budget; past it the decoder closes the program with the shortest allowed symbols."""


def prompt_words(prompt: str) -> list[tuple[str, int, int]]:
    """The words of ``prompt`` with their character spans: [(word, start, end)]."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(prompt.lower())]


def _position_keys() -> tuple[str, ...]:
    keys = ["<start>", "<end>"]
    for head, fields in HEADS.items():
        keys += [f"{head}.{f.name}" for f in fields]
    keys += ["choose.options.low", "choose.options.high"]
    for name, op in OPS.items():
        keys += [f"{name}.{f.name}" for f in op.fields]
    return tuple(dict.fromkeys(keys))


POSITION_KEYS = _position_keys()
"""Every grammar position a symbol can fill: ``<parent primitive>.<field>``."""
_POSITION_ID = {k: i for i, k in enumerate(POSITION_KEYS)}


def position_key(state: GrammarState) -> str:
    """The grammar position the next symbol of ``state`` fills."""
    if not state.started:
        return "<start>"
    if not state.stack:
        return "<end>"
    slot = state.stack[-1]
    label = slot.parent.get("op", slot.parent.get("head"))
    if slot.kind.startswith("option_"):
        return f"{label}.options.{'low' if slot.kind.startswith('option_low') else 'high'}"
    return f"{label}.{slot.key}"


def _arity(symbol: str) -> int:
    """How many values a symbol opens (to close a program that runs past the budget)."""
    if symbol.startswith("op:"):
        op = OPS[symbol[3:]]
        recursive = any(f.kind == op.category for f in op.fields)  # not(not(...)) never closes
        return len(op.fields) + (10 if recursive else 0)
    if symbol.startswith("head:"):
        return 99
    return 2 if symbol.startswith("optset:") else 0


@dataclass
class ParserConfig:
    """Shape of the parser network (saved in ``config.json``)."""

    word_dim: int
    hidden: int = 128
    dropout: float = 0.1
    word_dropout: float = 0.4
    """In training, the probability that a word's features are blanked (the parser must read a
    question from more than one word of it)."""


@dataclass
class Parse:
    """One prompt's parse.

    Attributes:
        program: The program (valid by construction).
        symbols: Its symbol sequence.
        confidence: The lowest probability of a chosen symbol, in (0, 1].
        mean_probability: The mean probability of the chosen symbols.
    """

    program: Program
    symbols: list[str]
    confidence: float
    mean_probability: float


class ParserNetwork(nn.Module):
    """Encoder-decoder with attention and a pointer over the prompt's words (module docstring).

    Shapes: words (B, L, word_dim) with mask (B, L); symbols (B, T) ids; positions (B, T) ids;
    allowed (B, T, V) bool; pointer matches (B, L, V) bool (word l names symbol v).
    """

    def __init__(self, config: ParserConfig) -> None:
        super().__init__()
        self.config = config
        h, v = config.hidden, len(VOCABULARY)
        self.word_in = nn.Sequential(nn.Linear(config.word_dim, h), nn.LayerNorm(h), nn.Tanh(), nn.Dropout(config.dropout))
        self.encoder = nn.GRU(h, h // 2, batch_first=True, bidirectional=True)
        self.symbol_embedding = nn.Embedding(v, h)
        self.position_embedding = nn.Embedding(len(POSITION_KEYS), h)
        self.init_state = nn.Linear(h, h)
        self.decoder = nn.GRUCell(2 * h, h)
        self.attention = nn.Linear(h, h, bias=False)
        self.generate = nn.Linear(2 * h, v)
        self.point = nn.Linear(2 * h, h, bias=False)

    def encode(self, words: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Word states (B, L, h) and the decoder's first state (B, h)."""
        lengths = mask.sum(1).clamp(min=1).cpu()
        if self.training and self.config.word_dropout > 0:
            words = words * (torch.rand(words.shape[:2], device=words.device) >= self.config.word_dropout)[..., None]
        packed = nn.utils.rnn.pack_padded_sequence(self.word_in(words), lengths, batch_first=True, enforce_sorted=False)
        states, _ = self.encoder(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=words.shape[1])
        pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return states, torch.tanh(self.init_state(pooled))

    def step(
        self, states: torch.Tensor, mask: torch.Tensor, matches: torch.Tensor, hidden: torch.Tensor, context: torch.Tensor,
        previous: torch.Tensor, position: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoding step: (symbol log-scores (B, V) before the grammar mask, new hidden, new context)."""
        x = torch.cat([self.symbol_embedding(previous) + self.position_embedding(position), context], -1)
        hidden = self.decoder(x, hidden)
        scores = torch.einsum("blh,bh->bl", states, self.attention(hidden)).masked_fill(~mask, float("-inf"))
        context = torch.einsum("bl,blh->bh", torch.softmax(scores, -1), states)
        both = torch.cat([hidden, context], -1)
        generated = self.generate(both)
        pointed = torch.einsum("blh,bh->bl", states, self.point(both)).masked_fill(~mask, float("-inf"))
        # a symbol's pointer score: log-sum-exp over the words that name it (-inf if none does)
        per_symbol = torch.logsumexp(pointed[..., None].masked_fill(~matches, float("-inf")), dim=1)
        return torch.logaddexp(generated, per_symbol), hidden, context

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Teacher-forced log-probabilities of the gold symbols under the grammar mask, (B, T)
        (0 at padding)."""
        states, hidden = self.encode(batch["words"], batch["word_mask"])
        context = torch.zeros_like(hidden)
        symbols, out = batch["symbols"], []
        previous = torch.full_like(symbols[:, 0], SYMBOL_ID[END])
        for t in range(symbols.shape[1]):
            logits, hidden, context = self.step(states, batch["word_mask"], batch["matches"], hidden, context, previous, batch["positions"][:, t])
            log_p = torch.log_softmax(logits.masked_fill(~batch["allowed"][:, t], float("-inf")), -1)
            out.append(log_p.gather(-1, symbols[:, t : t + 1]).squeeze(-1))
            previous = symbols[:, t]
        log_p = torch.stack(out, 1)
        return torch.where(batch["symbol_mask"], log_p, torch.zeros_like(log_p))


class WordFeatures:
    """Per-word vectors of prompts from a frozen language model (``TextEncoder``), cached by prompt.

    A word's vector is the concatenation, over the encoder's layers, of the mean state of the tokens
    that overlap the word's span, shape (encoder.dim,).
    """

    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self.dim = encoder.dim
        self._cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        """One (words, dim) tensor per prompt (float32, CPU)."""
        enc_model = self.encoder
        for prompt in [p for p in dict.fromkeys(prompts) if p not in self._cache]:
            if not prompt_words(prompt):  # nothing to read: one blank word
                self._cache[prompt] = torch.zeros(1, self.dim)
                continue
            enc = enc_model.tokenizer(prompt.lower(), return_offsets_mapping=True, add_special_tokens=False)
            ids = torch.tensor([enc["input_ids"]], device=enc_model.device)
            states = enc_model.model(input_ids=ids, output_hidden_states=True).hidden_states
            tokens = torch.cat([states[layer][0] for layer in enc_model.layers], -1).float().cpu()
            spans = enc["offset_mapping"]
            rows = []
            for _, start, end in prompt_words(prompt):
                idx = [i for i, (a, b) in enumerate(spans) if a < end and b > start]
                rows.append(tokens[idx].mean(0) if idx else torch.zeros(self.dim))
            self._cache[prompt] = torch.stack(rows) if rows else torch.zeros(1, self.dim)
        return [self._cache[p] for p in prompts]


def word_matches(prompt: str) -> torch.Tensor:
    """(words, V) bool: word l names symbol v (``symbol_words``)."""
    words = [w for w, _, _ in prompt_words(prompt)] or [""]
    out = torch.zeros(len(words), len(VOCABULARY), dtype=torch.bool)
    for v, symbol in enumerate(VOCABULARY):
        for name in symbol_words(symbol):
            for l, w in enumerate(words):
                if w == name:
                    out[l, v] = True
    return out


def encode_prompts(features: WordFeatures, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
    """The encoder inputs of a batch: ``words`` (B, L, D), ``word_mask`` (B, L), ``matches`` (B, L, V)."""
    rows = features(prompts)
    n = max(r.shape[0] for r in rows)
    words = torch.zeros(len(rows), n, features.dim)
    mask = torch.zeros(len(rows), n, dtype=torch.bool)
    matches = torch.zeros(len(rows), n, len(VOCABULARY), dtype=torch.bool)
    for i, (prompt, r) in enumerate(zip(prompts, rows)):
        words[i, : r.shape[0]], mask[i, : r.shape[0]] = r, True
        m = word_matches(prompt)
        matches[i, : m.shape[0]] = m
    return {"words": words, "word_mask": mask, "matches": matches}


def gold_targets(symbols: list[str]) -> tuple[list[int], list[int], torch.Tensor]:
    """Teacher-forcing targets of a gold sequence: symbol ids, grammar position ids, allowed
    masks (T, V)."""
    state, ids, positions, allowed = GrammarState(), [], [], []
    for s in symbols:
        positions.append(_POSITION_ID[position_key(state)])
        row = torch.zeros(len(VOCABULARY), dtype=torch.bool)
        row[[SYMBOL_ID[a] for a in state.allowed()]] = True
        allowed.append(row)
        ids.append(SYMBOL_ID[s])
        state.advance(s)
    return ids, positions, torch.stack(allowed)


class Parser:
    """A trained parser: ``parse(prompts) -> list[Parse]``.

    Args:
        network: The trained network.
        encoder: The frozen language model that reads the prompts (the one it was trained with).
    """

    def __init__(self, network: ParserNetwork, encoder: TextEncoder) -> None:
        self.network = network.eval()
        self.encoder = encoder
        self.features = WordFeatures(encoder)
        self._memo: dict[str, Parse] = {}

    @torch.no_grad()
    def parse(self, prompts: Sequence[str]) -> list[Parse]:
        """Each prompt's program (valid by construction), greedy under the grammar mask."""
        todo = [p for p in dict.fromkeys(prompts) if p not in self._memo]
        if todo:
            for prompt, parse in zip(todo, self._decode(todo)):
                self._memo[prompt] = parse
        return [self._memo[p] for p in prompts]

    def _decode(self, prompts: list[str]) -> list[Parse]:
        device = next(self.network.parameters()).device
        enc = {k: v.to(device) for k, v in encode_prompts(self.features, prompts).items()}
        states, hidden = self.network.encode(enc["words"], enc["word_mask"])
        context = torch.zeros_like(hidden)
        grammar = [GrammarState() for _ in prompts]
        symbols: list[list[str]] = [[] for _ in prompts]
        probs: list[list[float]] = [[] for _ in prompts]
        previous = torch.full((len(prompts),), SYMBOL_ID[END], device=device)
        t = 0
        while True:  # past MAX_SYMBOLS every pending value is closed with the fewest symbols: this ends
            live = [i for i, g in enumerate(grammar) if not g.done]
            if not live:
                break
            position = torch.tensor([_POSITION_ID[position_key(g)] for g in grammar], device=device)
            logits, hidden, context = self.network.step(states, enc["word_mask"], enc["matches"], hidden, context, previous, position)
            allowed = torch.zeros_like(logits, dtype=torch.bool)
            for i, g in enumerate(grammar):
                choices = g.allowed() if not g.done else {END}
                if t >= MAX_SYMBOLS:  # close the program: only the symbols that open the fewest values
                    least = min(_arity(c) for c in choices)
                    choices = {c for c in choices if _arity(c) == least}
                allowed[i, [SYMBOL_ID[c] for c in choices]] = True
            p = torch.softmax(logits.masked_fill(~allowed, float("-inf")), -1)
            chosen = p.argmax(-1)
            for i in live:
                s = VOCABULARY[int(chosen[i])]
                grammar[i].advance(s)
                symbols[i].append(s)
                probs[i].append(float(p[i, chosen[i]]))
            previous, t = chosen, t + 1
        return [Parse(g.program(), s, min(pr), sum(pr) / len(pr)) for g, s, pr in zip(grammar, symbols, probs)]

    # -- checkpoints --------------------------------------------------------------------------------

    def save(self, folder: Path, extra: dict[str, Any]) -> None:
        """Write ``parser.safetensors`` and ``config.json`` (network shape, vocabulary, ``extra``)."""
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}, str(folder / "parser.safetensors"))
        config = {"format": "physground-parser", "network": asdict(self.network.config), "vocabulary": list(VOCABULARY),
                  "positions": list(POSITION_KEYS), "language_model": self.encoder.describe(), **extra}
        (folder / "config.json").write_text(json.dumps(config, indent=2))

    @classmethod
    def load(cls, folder: str | Path, vlm: Any = None, vlm_folder: str | Path | None = None) -> Parser:
        """A parser folder written by ``save``. A parser on a VLM's language model reads prompts
        with ``vlm`` (loaded from ``vlm_folder``, which must hold the weights it was trained on);
        one on SmolLM2 loads it from the installed package.

        Raises:
            FileNotFoundError: No parser there.
            ValueError: A folder of another format, or one written for another vocabulary or
                language model.
        """
        from safetensors.torch import load_file

        folder = Path(folder)
        config_path = folder / "config.json"
        if not config_path.is_file() or not (folder / "parser.safetensors").is_file():
            raise FileNotFoundError(f"no parser in {str(folder)!r} (config.json and parser.safetensors); train one with physground train-parser")
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{str(config_path)!r} is not valid JSON ({exc.msg})") from None
        if not isinstance(config, dict) or config.get("format") != "physground-parser" or not isinstance(config.get("language_model"), dict):
            raise ValueError(f"{str(config_path)!r} is not a physground parser's config")
        if config.get("vocabulary") != list(VOCABULARY) or config.get("positions") != list(POSITION_KEYS):
            raise ValueError(f"the parser in {str(folder)!r} was trained for another version of the query language: retrain it")
        recorded = config["language_model"]
        encoder = text_encoder(str(recorded.get("kind")), vlm, vlm_folder)
        if recorded.get("sha256") and encoder.digest and encoder.digest != recorded["sha256"]:
            raise ValueError(f"the parser in {str(folder)!r} was trained on the language model with weights {str(recorded['sha256'])[:12]}..., "
                             f"not {encoder.digest[:12]}...: retrain it for this model")
        network = ParserNetwork(ParserConfig(**config["network"]))
        if network.config.word_dim != encoder.dim:
            raise ValueError(f"the parser in {str(folder)!r} reads {network.config.word_dim}-wide word features; its language model gives {encoder.dim}")
        try:
            network.load_state_dict(load_file(str(folder / "parser.safetensors")))
        except RuntimeError as exc:
            raise ValueError(f"{str(folder / 'parser.safetensors')!r} does not fit the parser network: {str(exc).splitlines()[0]}") from None
        return cls(network, encoder)


__all__ = ["Parse", "Parser", "ParserConfig", "ParserNetwork", "WordFeatures", "encode_prompts", "gold_targets", "prompt_words"]

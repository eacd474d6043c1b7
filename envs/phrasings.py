"""How each task's question is worded: templates in train / held-out / paraphrase splits.

A template is text with slots (``{colour}``, ``{position}``, ``{strength}``, ``{direction}``, and
the option set's bounds ``{low}``, ``{high}``, ``{max}``) and a polarity: a *flipped* template asks
the opposite question ("Will the tower stay standing?"), and its program is the task's program
negated, so its correct answer is the other one. The label of an episode always comes from
executing the program of the prompt it shows.

Splits (``TaskConfig.phrasing``): ``canonical`` (the task's first wording, the only one before
programs: results made with it compare with earlier ones), ``train`` (the templates agents may be
trained on, the canonical one first), ``heldout`` (other templates of the same style),
``paraphrase`` (synonyms, other word orders, politeness, distractor clauses), ``all``.

``reference_parse`` is the reference grammar: it reads a prompt that one of the templates
produces back into (task, slot values, polarity), so any such prompt has a gold program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from physground.envs.programs import position_word
from physground.envs.scene import COLOURS

SPLITS = ("canonical", "train", "heldout", "paraphrase", "all")
SLOT_PATTERNS = {
    "colour": "|".join(COLOURS),
    "position": r"[+-]?\d+",
    "strength": r"\d+",
    "direction": "left|right",
    "low": r"[+-]?\d+",
    "high": r"[+-]?\d+",
    "max": r"\d+",
}
"""What each slot may hold in a prompt (the reference grammar's terminals)."""
INTEGER_SLOTS = frozenset({"position", "strength", "low", "high", "max"})
QUESTION_SLOTS = frozenset({"colour", "position", "strength", "direction"})
"""Slots whose value each episode's question chooses (the others are the option set's bounds)."""


@dataclass(frozen=True)
class Template:
    """One wording of a task's question.

    Attributes:
        text: The wording, with ``{slot}`` fields.
        flipped: Asks the opposite of the task's question (a yes/no task's answer is inverted).
    """

    text: str
    flipped: bool = False

    @property
    def slots(self) -> tuple[str, ...]:
        """The slot names the text uses, in order."""
        return tuple(re.findall(r"\{(\w+)\}", self.text))

    def render(self, values: dict[str, Any]) -> str:
        """The prompt with ``values`` in the slots (positions signed: "+2", "0", "-1")."""
        shown = {k: position_word(v) if k in ("position", "low", "high") else str(v) for k, v in values.items()}
        try:
            return self.text.format(**shown)
        except KeyError as exc:
            raise ValueError(f"template {self.text!r} needs the slot {exc.args[0]!r}") from None


@dataclass(frozen=True)
class Phrasings:
    """A task's templates by split (``train[0]`` is the canonical wording)."""

    train: tuple[Template, ...]
    heldout: tuple[Template, ...]
    paraphrase: tuple[Template, ...]

    def split(self, name: str) -> tuple[Template, ...]:
        """The templates of a split (``SPLITS``).

        Raises:
            ValueError: Unknown split.
        """
        if name == "canonical":
            return self.train[:1]
        if name == "all":
            return self.train + self.heldout + self.paraphrase
        if name in ("train", "heldout", "paraphrase"):
            return getattr(self, name)
        raise ValueError(f"unknown phrasing split {name!r}; valid: {', '.join(SPLITS)}")


def _t(*texts: str) -> tuple[Template, ...]:
    """Templates; a text starting with "~" is flipped."""
    return tuple(Template(t[1:], True) if t.startswith("~") else Template(t) for t in texts)


_POSITION_FORMATS = (
    "Answer with a position from {low} (left) to {high} (right).",
    "Give a position between {low} and {high}.",
    "Reply with one position, {low} is far left and {high} far right.",
)
_STRENGTH_FORMAT = "Answer with a strength from 1 (softest) to {max} (hardest)."

def _removal(colour: str) -> Phrasings:
    """Removal questions naming the block by ``colour`` (BlockRemoval: always "red";
    ColourRemoval: the ``{colour}`` slot)."""

    def t(*texts: str) -> tuple[Template, ...]:
        return _t(*(text.replace("{block}", colour) for text in texts))

    return Phrasings(
        train=t(
            "If the {block} block is removed, will the tower fall?",
            "Will the tower fall if the {block} block is taken out?",
            "~If the {block} block is removed, will the tower stay standing?",
            "Does the tower collapse when the {block} block is pulled out?",
            "~If you take away the {block} block, is the tower still stable?",
            "Remove the {block} block. Does the tower fall?",
            "~Will the rest of the tower stand if the {block} block is removed?",
            "If the {block} block disappears, will any block fall?",
        ),
        heldout=t(
            "Is the tower going to fall once the {block} block is gone?",
            "~Can the tower stand without the {block} block?",
            "When the {block} block is removed, do the blocks above it fall?",
            "~If the {block} block were taken out, would the stack stay upright?",
        ),
        paraphrase=t(
            "Look at the stack. Suppose someone slides out the {block} cube: does it topple?",
            "Please tell me whether the pile collapses after the {block} cube is pulled away.",
            "~Without the {block} cube, would this stack still stand?",
            "Taking the {block} block out of the tower, is the tower going to tumble?",
            "~Imagine the {block} cube vanishes. Do the remaining cubes keep standing?",
        ),
    )


PHRASINGS: dict[str, Phrasings] = {
    "TowerStability": Phrasings(
        train=_t(
            "Will this block tower fall?",
            "Is this tower going to fall over?",
            "~Will this block tower stay standing?",
            "Does the stack of blocks collapse?",
            "~Is the tower stable?",
            "Will any of these blocks fall down?",
            "~Will all of the blocks stay where they are?",
            "Is this stack of blocks unstable?",
        ),
        heldout=_t(
            "Will the blocks in this tower tumble?",
            "~Can this tower stand on its own?",
            "Is the block tower about to fall?",
            "~Does this stack stay upright?",
        ),
        paraphrase=_t(
            "Look at the blocks on the table. Is the stack going to topple?",
            "Please tell me: will this pile of cubes come down?",
            "~Assuming nobody touches it, would this tower remain upright?",
            "If we let go of this tower, does it topple over?",
            "~Taking a look at the cubes, will the stack keep standing?",
            "Could you say whether these stacked blocks will collapse?",
        ),
    ),
    "BlockRemoval": _removal("red"),
    "TowerBuild": Phrasings(
        train=tuple(
            Template(q + " " + f)
            for q, f in (
                ("Where should the red block be dropped to make the tower taller?", _POSITION_FORMATS[0]),
                ("Where should the red block be released so that it lands on top of the tower?", _POSITION_FORMATS[0]),
                ("At which position should the red block be dropped to stack it on the tower?", _POSITION_FORMATS[1]),
                ("Choose where to drop the red block so the tower grows by one block.", _POSITION_FORMATS[0]),
                ("Where do you drop the red block to build the tower higher?", _POSITION_FORMATS[1]),
                ("Pick the drop position that puts the red block on top of the tower.", _POSITION_FORMATS[0]),
                ("Where must the red block fall to end up on the tower without knocking it over?", _POSITION_FORMATS[1]),
                ("Which release position makes the tower one block taller with the red block?", _POSITION_FORMATS[0]),
            )
        ),
        heldout=tuple(
            Template(q + " " + f)
            for q, f in (
                ("Where should the red block be let go to add it to the top of the tower?", _POSITION_FORMATS[2]),
                ("To make the stack taller, where do you release the red cube?", _POSITION_FORMATS[0]),
                ("Which position lets the red block land on the tower and stay there?", _POSITION_FORMATS[2]),
                ("Where should the red block drop so the tower gets higher?", _POSITION_FORMATS[1]),
            )
        ),
        paraphrase=tuple(
            Template(q + " " + f)
            for q, f in (
                ("Look at the tower and the red cube beside it. Where would you drop the cube to stack it on top?", _POSITION_FORMATS[2]),
                ("Please choose a spot to release the red cube so the pile grows taller.", _POSITION_FORMATS[1]),
                ("We want a taller tower. Where should the red block go?", _POSITION_FORMATS[0]),
                ("Dropping the red cube from above, which spot places it on the top of the stack?", _POSITION_FORMATS[2]),
            )
        ),
    ),
    "RollOff": Phrasings(
        train=_t(
            "Will the ball fall off the platform?",
            "Does the ball roll off the end of the platform?",
            "~Will the ball stay on the platform?",
            "Is the ball going to leave the platform?",
            "~Does the ball come to rest on the platform?",
            "Will the ball roll past the edge of the platform?",
            "~Will the ball stop before the end of the platform?",
            "Once released, does the ball drop off the platform?",
        ),
        heldout=_t(
            "Is the ball going to roll off the platform?",
            "~Does the ball remain on the platform?",
            "Will the rolling ball go over the platform's edge?",
            "~Will the ball halt on the platform?",
        ),
        paraphrase=_t(
            "Look at the ramp. When the ball rolls down, does it tumble off the platform?",
            "Please tell me if the ball ends up falling from the platform.",
            "~Released at the top of the ramp, would the ball stay on the platform?",
            "After rolling down the slope, is the ball going to drop off the raised platform?",
            "~Could you tell me whether the ball stops somewhere on the platform?",
        ),
    ),
    "Catch": Phrasings(
        train=_t(
            "Move the basket to catch the ball: left, stay or right?",
            "Which way should the basket move to catch the ball: left, stay or right?",
            "To catch the falling ball, move the basket left, stay or right?",
            "Catch the ball with the basket. Left, stay or right?",
            "Where should the basket go now to catch the ball: left, stay or right?",
            "Should the basket move left, stay or move right to catch the ball?",
            "Move the basket under the ball: left, stay or right?",
            "The ball is falling. Basket: left, stay or right?",
        ),
        heldout=_t(
            "How should the basket move so the ball lands in it: left, stay or right?",
            "To get the ball into the basket, go left, stay or go right?",
            "Which move brings the basket under the falling ball: left, stay or right?",
            "Steer the basket to catch the ball: left, stay or right?",
        ),
        paraphrase=_t(
            "Look at the ball in the air. Please move the basket so it catches it: left, stay or right?",
            "Answer left, stay or right: which way must the basket go to get the ball?",
            "The ball will come down soon. To have it land in the basket, do you go left, stay or right?",
            "Keep your eye on the ball and move the basket: left, stay or right?",
        ),
    ),
    "Push": Phrasings(
        train=tuple(
            Template(q + " " + _STRENGTH_FORMAT)
            for q in (
                "How hard should the block be pushed to stop in the dark zone?",
                "How strongly must the block be pushed so that it stops in the dark zone?",
                "Which push strength makes the block stop inside the dark zone?",
                "Choose how hard to push the block so it comes to rest in the dark zone.",
                "With what strength should the block be pushed to end in the dark zone?",
                "How hard do you push the block to land it in the dark zone?",
                "Pick the push that stops the block in the dark zone.",
                "Which strength slides the block into the dark zone and stops it there?",
            )
        ),
        heldout=tuple(
            Template(q + " " + _STRENGTH_FORMAT)
            for q in (
                "What push strength leaves the block in the dark zone?",
                "How forcefully should the block be pushed to come to rest in the dark zone?",
                "To stop the block on the dark zone, how hard do you push it?",
                "Which strength of push brings the block to a stop in the dark zone?",
            )
        ),
        paraphrase=tuple(
            Template(q + " " + _STRENGTH_FORMAT)
            for q in (
                "Look at the mat. Please choose how hard to shove the block so it ends up on the dark patch.",
                "The block should finish in the dark area. How hard would you push it?",
                "Sliding the block to the right, what strength makes it stop on the dark zone?",
                "Could you pick the push strength that lets the block come to rest in the dark region?",
            )
        ),
    ),
    "ColourRemoval": _removal("{colour}"),
    "DropOnTop": Phrasings(
        train=_t(
            "If the red block is dropped at position {position}, will it land on top of the tower?",
            "Will the red block end up on the tower if it is released at position {position}?",
            "~If the red block is dropped at position {position}, will it miss the top of the tower?",
            "Dropped at position {position}, does the red block stay on top of the tower?",
            "~Released at position {position}, does the red block fail to stack on the tower?",
            "Does dropping the red block at position {position} make the tower taller?",
            "~Will the red block not end up on top of the tower when dropped at position {position}?",
            "If you let go of the red block at position {position}, does it rest on the tower?",
        ),
        heldout=_t(
            "Is the red block going to sit on top of the tower if dropped at position {position}?",
            "~Would a drop at position {position} leave the red block off the tower?",
            "When released at position {position}, does the red block stack onto the tower?",
            "~If the red block falls from position {position}, does it miss the tower top?",
        ),
        paraphrase=_t(
            "Look at the tower. Suppose the red cube is let go above position {position}: does it end up on top?",
            "Please tell me whether a red cube released at position {position} stays stacked on the tower.",
            "~Dropping the red cube at position {position}, would it end up anywhere but on the tower?",
            "Releasing the red block from position {position}, is the stack one block taller afterwards?",
        ),
    ),
    "ToppleSpot": Phrasings(
        train=tuple(
            Template(q + " " + f)
            for q, f in (
                ("Where should the red block be dropped so that the tower falls?", _POSITION_FORMATS[0]),
                ("At which position should the red block be released to knock the tower over?", _POSITION_FORMATS[0]),
                ("Choose where to drop the red block so the tower collapses.", _POSITION_FORMATS[1]),
                ("Where do you drop the red block to make the tower topple?", _POSITION_FORMATS[0]),
                ("Pick the drop position that brings the tower down.", _POSITION_FORMATS[1]),
                ("Which release position of the red block makes a tower block fall?", _POSITION_FORMATS[0]),
                ("Where must the red block land to make the tower tumble?", _POSITION_FORMATS[1]),
                ("Drop the red block so the tower falls over. Where?", _POSITION_FORMATS[0]),
            )
        ),
        heldout=tuple(
            Template(q + " " + f)
            for q, f in (
                ("Where should the red cube be let go to topple the tower?", _POSITION_FORMATS[2]),
                ("To collapse the stack, where do you release the red block?", _POSITION_FORMATS[0]),
                ("Which position makes the dropped red block knock the tower down?", _POSITION_FORMATS[2]),
                ("Where should the red block fall to bring down the tower?", _POSITION_FORMATS[1]),
            )
        ),
        paraphrase=tuple(
            Template(q + " " + f)
            for q, f in (
                ("Look at the stack and the red cube. Where would you drop the cube to knock the stack over?", _POSITION_FORMATS[2]),
                ("Please choose a spot to release the red cube so the pile comes down.", _POSITION_FORMATS[1]),
                ("We want the tower to fall. Where should the red block be dropped?", _POSITION_FORMATS[0]),
                ("Dropping the red cube from above, which spot makes the stack come crashing down?", _POSITION_FORMATS[2]),
            )
        ),
    ),
    "PushZone": Phrasings(
        train=_t(
            "Will the block stop in the dark zone if pushed with strength {strength}?",
            "If the block is pushed with strength {strength}, does it stop in the dark zone?",
            "~If the block is pushed with strength {strength}, will it stop outside the dark zone?",
            "Pushed with strength {strength}, does the block come to rest in the dark zone?",
            "~Does a push of strength {strength} leave the block outside the dark zone?",
            "With a push of strength {strength}, will the block end in the dark zone?",
            "~Will the block miss the dark zone when pushed with strength {strength}?",
            "Does strength {strength} make the block stop inside the dark zone?",
        ),
        heldout=_t(
            "Is the block going to stop in the dark zone after a push of strength {strength}?",
            "~After a push with strength {strength}, does the block end up outside the dark zone?",
            "If you push the block with strength {strength}, will it rest in the dark zone?",
            "~Would strength {strength} fail to stop the block in the dark zone?",
        ),
        paraphrase=_t(
            "Look at the mat. If the block is shoved with strength {strength}, does it end on the dark patch?",
            "Please tell me whether a strength {strength} push stops the block on the dark area.",
            "~Sliding the block with strength {strength}, would it come to rest away from the dark zone?",
            "Pushing the block to the right with strength {strength}, is it going to stop on the dark region?",
        ),
    ),
    "PushOff": Phrasings(
        train=_t(
            "If the block is pushed with strength {strength}, will it slide off the mat?",
            "Will the block slide off the end of the mat if pushed with strength {strength}?",
            "~If the block is pushed with strength {strength}, will it stay on the mat?",
            "Pushed with strength {strength}, does the block leave the mat?",
            "~Does the block stop on the mat after a push of strength {strength}?",
            "With a push of strength {strength}, does the block go past the end of the mat?",
            "~Will the block remain on the mat when pushed with strength {strength}?",
            "Does a push of strength {strength} send the block off the mat?",
        ),
        heldout=_t(
            "Is the block going to slide off the mat after a push of strength {strength}?",
            "~After a push with strength {strength}, is the block still on the mat?",
            "If you push the block with strength {strength}, will it fall off the mat?",
            "~Would strength {strength} leave the block resting on the mat?",
        ),
        paraphrase=_t(
            "Look at the mat. If the block is shoved with strength {strength}, does it shoot off the end?",
            "Please tell me whether a strength {strength} push sends the block over the mat's edge.",
            "~Sliding the block with strength {strength}, would it come to rest somewhere on the mat?",
            "Pushing the block to the right with strength {strength}, is it going to leave the mat?",
        ),
    ),
    "BasketMove": Phrasings(
        train=_t(
            "If the basket moves {direction} once, will the ball miss it?",
            "Will the ball miss the basket if the basket is moved {direction} once?",
            "~If the basket moves {direction} once, will the ball land in it?",
            "After one move of the basket to the {direction}, does the ball land outside it?",
            "~Does the ball fall into the basket if the basket steps {direction} once?",
            "Moving the basket {direction} by one step, does the ball miss?",
            "~Will the basket catch the ball after one step to the {direction}?",
            "If the basket shifts {direction} one step, does the ball hit the table instead?",
        ),
        heldout=_t(
            "Is the ball going to miss the basket once the basket moves {direction}?",
            "~After the basket steps {direction} once, is the ball caught?",
            "If the basket is nudged {direction} once, does the ball land beside it?",
            "~Would one move {direction} let the basket catch the ball?",
        ),
        paraphrase=_t(
            "Look at the ball in the air. If the basket slides one step {direction}, does the ball miss it?",
            "Please tell me whether the ball lands outside the basket after the basket moves {direction} once.",
            "~With the basket shifted one step {direction}, would the ball drop into it?",
            "Stepping the basket once to the {direction}, is the ball going to hit the table?",
        ),
    ),
}
"""Every task's templates, by task name."""


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(" ")


def _pattern(template: Template) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", _normal(template.text))
    regex = "".join(f"(?P<{p[1:-1]}>{SLOT_PATTERNS[p[1:-1]]})" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


_PATTERNS: list[tuple[str, Template, re.Pattern[str]]] = [
    (task, template, _pattern(template)) for task, p in PHRASINGS.items() for template in p.split("all")
]


@dataclass(frozen=True)
class ParsedPrompt:
    """What the reference grammar reads from a prompt: the task, slot values, polarity."""

    task: str
    values: dict[str, Any]
    flipped: bool
    template: Template


def reference_parse(prompt: str) -> list[ParsedPrompt]:
    """Every (task, slot values, polarity) whose template produces ``prompt`` (case and spacing
    ignored); empty when no template does."""
    text = _normal(prompt)
    found = []
    for task, template, pattern in _PATTERNS:
        match = pattern.match(text)
        if match:
            values = {k: int(v) if k in INTEGER_SLOTS else v for k, v in match.groupdict().items()}
            found.append(ParsedPrompt(task, values, template.flipped, template))
    return found

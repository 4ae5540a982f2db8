"""A strict parser from a short motion description ("walking forward", "turning left") to an
intent, at documented nominal speeds.

The parser is deliberately narrow: it accepts one locomotion phrase (a verb of moving or
stopping plus at most one direction) and rejects everything else (``None``), so a VLM's
rambling or hedging never becomes a command. Negations ("not walking") and contradictions
("turning left and right") are rejected too.

Nominal speeds (``NominalSpeeds``) are what a phrase means in the robot's body frame; they are
clamped to the policy's ``CommandRanges``:

| phrase (examples) | skill | vx | vy | yaw rate |
|---|---|---|---|---|
| standing, stopping, stopped, still, idle | stand | 0 | 0 | 0 |
| walking / moving forward, walking toward the camera, walking away, approaching | walk | +walk | 0 | 0 |
| walking backward(s), stepping back, backing up | walk | -back | 0 | 0 |
| stepping / sidestepping / moving left (right) | walk | 0 | +side (-side) | 0 |
| turning left (right), turning around (= left) | walk | turn_vx | 0 | +turn (-turn) |
| running, jogging (any direction above) | walk | as above, times run_factor | | |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from humanoid_teleop.contracts import WALK_COMMAND_RANGES, CommandRanges, VelocityCommand


@dataclass(frozen=True)
class NominalSpeeds:
    """What a phrase means, before clamping to the policy's ranges."""

    walk_mps: float = 0.3
    back_mps: float = 0.15
    side_mps: float = 0.12
    turn_radps: float = 0.5
    turn_vx_mps: float = 0.1  # people turn while walking; the G1 expert turns best moving
    run_factor: float = 1.5

    def __post_init__(self):
        for name in ("walk_mps", "back_mps", "side_mps", "turn_radps", "run_factor"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)}")
        if self.turn_vx_mps < 0:
            raise ValueError(f"turn_vx_mps: expected >= 0, got {self.turn_vx_mps}")


@dataclass(frozen=True)
class ParsedMotion:
    skill: str  # "stand" or "walk"
    command: VelocityCommand
    direction: str  # stand / forward / back / left / right / turn_left / turn_right
    phrase: str  # the words that matched


_STAND = (
    r"(stand(s|ing)?|stop(s|ped|ping)?|still|idle|halt(s|ed|ing)?|paus(e|es|ed|ing)|wait(s|ing)?)"
)
_MOVE = r"(walk(s|ing|ed)?|mov(e|es|ing)|go(es|ing)?|step(s|ping)?|head(s|ing)?|stroll(s|ing)?)"
_RUN = r"(run(s|ning)?|jog(s|ging)?)"
_TURN = r"(turn(s|ing)?|rotat(e|es|ing)|spin(s|ning)?|pivot(s|ing)?)"
_NEGATION = re.compile(r"\b(not|no|never|without|neither|nor|cannot)\b|n't\b")

_STRAY_DIRECTION = re.compile(r"\b(left|right|forwards?|backwards?|around|sideways)\b")
_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("turn_around", re.compile(rf"\b{_TURN}\s+(a)?round\b")),
    ("turn_left", re.compile(rf"\b{_TURN}\s+(to\s+(the|his|her|their)\s+)?left\b")),
    ("turn_right", re.compile(rf"\b{_TURN}\s+(to\s+(the|his|her|their)\s+)?right\b")),
    (
        "left",
        re.compile(
            rf"\b(side\s*step(s|ping)?|{_MOVE}|{_RUN})\s+(to\s+(the|his|her|their)\s+)?"
            r"left(wards?)?\b"
        ),
    ),
    (
        "right",
        re.compile(
            rf"\b(side\s*step(s|ping)?|{_MOVE}|{_RUN})\s+(to\s+(the|his|her|their)\s+)?"
            r"right(wards?)?\b"
        ),
    ),
    (
        "back",
        re.compile(
            rf"\b(({_MOVE}|{_RUN})\s+back(ward|wards)?|back(s|ing)?\s+up|backing\s+away"
            r"|retreat(s|ing)?)\b"
        ),
    ),
    (
        "forward",
        re.compile(
            rf"\b(({_MOVE}|{_RUN})(\s+(forwards?|ahead|straight|toward(s)?|away"
            rf"|on|along|slowly|quickly))?|approach(es|ing)?|advanc(e|es|ing))\b"
        ),
    ),
    ("stand", re.compile(rf"\b{_STAND}\b")),
)  # order matters: the most specific phrases first


def parse_motion_text(
    text: str,
    speeds: NominalSpeeds | None = None,
    ranges: CommandRanges = WALK_COMMAND_RANGES,
) -> ParsedMotion | None:
    """The one locomotion the text describes, or None when it names none, several, or negates.

    Case and punctuation are ignored. "turning around" counts as a left turn (a U-turn has no
    side; left is the convention).
    """
    s = speeds or NominalSpeeds()
    clean = re.sub(r"[^a-z' ]+", " ", text.lower().replace("\u2019", "'")).strip()
    if not clean or _NEGATION.search(clean):
        return None
    found: list[tuple[str, str]] = []
    rest = clean
    for direction, pattern in _PATTERNS:
        match = pattern.search(rest)
        if match:
            found.append((direction, match.group(0)))
            rest = pattern.sub(" ", rest)  # "turning left" must not also read as "left"
    if _STRAY_DIRECTION.search(rest):
        return None  # a direction word left over ("turning left and right"): ambiguous
    directions = {"turn_left" if d == "turn_around" else d for d, _ in found}
    # A stop after a movement ("walks forward and stops") ends in standing: what to do now.
    if "stand" in directions and len(directions) == 2 and re.search(rf"\b{_STAND}\s*$", clean):
        directions = {"stand"}
        found = [f for f in found if f[0] == "stand"]
    if len(directions) != 1:
        return None
    direction = directions.pop()
    phrase = " ".join(p for _, p in found)
    running = re.search(rf"\b{_RUN}\b", clean) is not None
    k = s.run_factor if running else 1.0
    command = {
        "stand": VelocityCommand(),
        "forward": VelocityCommand(k * s.walk_mps, 0.0, 0.0),
        "back": VelocityCommand(-k * s.back_mps, 0.0, 0.0),
        "left": VelocityCommand(0.0, k * s.side_mps, 0.0),
        "right": VelocityCommand(0.0, -k * s.side_mps, 0.0),
        "turn_left": VelocityCommand(s.turn_vx_mps, 0.0, k * s.turn_radps),
        "turn_right": VelocityCommand(s.turn_vx_mps, 0.0, -k * s.turn_radps),
    }[direction]
    skill = "stand" if direction == "stand" else "walk"
    return ParsedMotion(skill, ranges.clamp(command), direction, phrase)

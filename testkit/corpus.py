# ruff: noqa: E501, DTZ001
"""A corpus shaped like the community's content, generated quickly into a folder: episodes and
recaps with real-looking frontmatter and bodies (bench/content_index.py, the loop-stall test).

    generate(root, 10_000, 10_000)  # about a second; root/episodes, root/recaps, authors.yml
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

WORDS = [
    "model",
    "fine",
    "tuning",
    "distillation",
    "reasoning",
    "agents",
    "retrieval",
    "evaluation",
    "observability",
    "speech",
    "vision",
    "document",
    "processing",
    "open",
    "source",
    "local",
    "device",
    "foundry",
    "azure",
    "copilot",
    "toolkit",
    "mcp",
    "protocol",
    "research",
    "innovation",
    "synthetic",
    "data",
    "red",
    "teaming",
    "safety",
    "router",
    "small",
    "language",
    "embedding",
    "vector",
    "search",
    "memory",
    "multimodal",
    "latency",
    "throughput",
    "deployment",
    "pricing",
    "quota",
    "serverless",
    "compute",
    "notebook",
    "workflow",
    "orchestration",
    "prompt",
    "engineering",
    "grounding",
    "hallucination",
    "benchmark",
    "leaderboard",
    "catalog",
    "customization",
    "adapters",
    "quantization",
    "onnx",
    "runtime",
    "inference",
    "scaling",
    "context",
    "window",
    "tokens",
    "streaming",
    "tools",
    "functions",
    "plugins",
]
FIRST = [
    "Dave",
    "Nitya",
    "Sharda",
    "Leo",
    "Mojan",
    "Marlene",
    "Den",
    "Maanav",
    "Mona",
    "Han",
    "Jeff",
    "Sandeep",
    "Kurt",
    "Bethany",
    "Guy",
    "April",
    "Lee",
    "Seokjin",
    "Saumil",
    "Utkarsh",
]
LAST = [
    "Voutila",
    "Narasimhan",
    "Kaur",
    "Yao",
    "Javaheripi",
    "Mhangami",
    "Delimarsky",
    "Dalal",
    "Whalin",
    "Che",
    "Boudier",
    "Sen",
    "DeMaagd",
    "Jepchumba",
    "Gregory",
    "Speight",
    "Stott",
    "Han",
    "Shrivastava",
    "Maheswari",
]

BODY = """
> Model Mondays is a weekly series to build your Microsoft Foundry Model IQ. In this episode, we focus on {topic} — and learn how {detail}.

_This week in Model Mondays, we focus on {topic}. Read on for my recap of {guest}'s insights._

![Banner](../../assets/model-mondays/S{s}-E{e}.png)

## Spotlight On: {topic}

### 1. What is this topic and why is it important?

{para}

### 2. What is one key takeaway from the episode?

{para}

### 3. How can I get started?

{para}

## My A-Ha Moment

{para}
"""


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def generate(root: Path, n_episodes: int, n_recaps: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    (root / "episodes").mkdir(parents=True)
    (root / "recaps").mkdir()
    (root / "authors.yml").write_text(
        "authors:\n  nitya:\n    name: Nitya Narasimhan\n  sharda:\n    name: Sharda Kaur\n"
    )
    start = datetime(2020, 1, 6, 13, 30)
    for i in range(n_episodes):
        season, number = i // 13 + 1, i % 13 + 1
        day = start + timedelta(weeks=i)
        title = sentence(rng, rng.randint(2, 5)).title()
        guests = ", ".join(person(rng) for _ in range(rng.randint(1, 3)))
        tags = ", ".join(rng.sample(WORDS, 3))
        (root / "episodes" / f"s{season}-e{number:02d}.md").write_text(
            f"""---
id: s{season}-e{number:02d}
season: {season}
episode: {number}
title: {title}
summary: {sentence(rng, 18)}
guests: [{guests}]
hosts: [Nitya Narasimhan]
tags: [{tags}]
status: {"published" if i < n_episodes - 20 else "scheduled"}
timezone: America/New_York
livestream:
  start: {day:%Y-%m-%dT%H:%M}
  duration: 30m
  url: https://developer.microsoft.com/en-us/reactor/events/{26000 + i}/
ama:
  start: {day + timedelta(days=4):%Y-%m-%dT%H:%M}
  duration: 30m
  url: https://discord.gg/example?event={1382862245721014476 + i}
links:
  replay: https://www.youtube.com/watch?v=VSNGzBB{i:04d}
---
{sentence(rng, 60)}.
"""
        )
    for i in range(n_recaps):
        season, number = i // 13 + 1, i % 13 + 1
        created = date(2020, 1, 6) + timedelta(weeks=i)
        topic = sentence(rng, 3).title()
        body = BODY.format(
            topic=topic,
            detail=sentence(rng, 15),
            guest=person(rng),
            s=season,
            e=number,
            para=sentence(rng, 90),
        )
        (root / "recaps" / f"{created:%Y-%m-%d}-s{season}e{number}.md").write_text(
            f"""---
date:
    created: {created}
draft: {"true" if i % 10 == 0 else "false"}
authors:
  - sharda
  - nitya
categories:
  - Recaps
  - Season-{season:02d}
tags:
  - {rng.choice(WORDS)}
  - {rng.choice(WORDS)}
---

# S{season}:E{number} Understanding {topic} with {person(rng)}
{body}"""
        )

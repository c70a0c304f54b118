"""Value parsers shared by the recipe's top level and its chapter rules.

A module of its own so recipe.py and recipe_rules.py both import it and never each other
the other way round (no import cycle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.models import BACKENDS, EMOTIONS, VENDOR_LANGUAGES, PiperSettings, Price
from pipeline.yamlsrc import Where, at, get_float, get_int, get_str, mapping

VENDOR_SPEEDS = (0.5, 1.0, 2.0)


def parse_language(value: Any, where: Where) -> str:
    return get_str(value, where, VENDOR_LANGUAGES)


def parse_emotion(value: Any, where: Where) -> int:
    if isinstance(value, str) and not value.isdigit():
        return EMOTIONS[get_str(value.lower(), where, EMOTIONS)]
    return get_int(int(value) if isinstance(value, str) else value, where, lo=0, hi=8)


def parse_speed(value: Any, where: Where, allow_any: bool) -> float:
    speed = get_float(value, where, lo=0.1, hi=4.0)
    if not allow_any and speed not in VENDOR_SPEEDS:
        raise where.error(f"{value} is not a documented speed (0.5, 1, 2); set allow_any_speed: true to send it anyway")
    return speed


def parse_price(value: Any, where: Where) -> Price:
    """`price: {per_credit: 0.0012, currency: USD}`: money beside credits in `plan`."""
    d = mapping(value, where, ("per_credit", "currency"))
    for key in ("per_credit", "currency"):
        if key not in d:
            raise where.error(f"needs `{key}:` (e.g. price: {{per_credit: 0.0012, currency: USD}})")
    currency = get_str(d["currency"], at(d, "currency", where)).strip()
    if len(currency) > 8:
        raise at(d, "currency", where).error(f"'{currency[:20]}' is not a currency code like USD or EUR")
    return Price(get_float(d["per_credit"], at(d, "per_credit", where), lo=0, hi=1000), currency)



def parse_backend(value: Any, where: Where) -> str:
    """`backend: piper` (or local, audiocleaner): used when --backend is not given."""
    return get_str(value, where, BACKENDS)


def parse_piper(value: Any, where: Where, base: Path) -> PiperSettings:
    """`piper: {model: voices/en_GB-alan-medium.onnx, fallback: local}`.

    The model's `.onnx.json` must sit beside it; the file itself is read (and its config
    checked) when the piper backend is chosen, so a recipe for another backend still loads.
    """
    d = mapping(value, where, ("model", "fallback"))
    model = None
    if "model" in d:
        w = at(d, "model", where)
        model = Path(get_str(d["model"], w)).expanduser()
        model = model if model.is_absolute() else base / model
        if not model.is_file():
            raise w.error(f"file not found: {model}")
        if not model.with_name(model.name + ".json").is_file():
            raise w.error(f"{model.name}.json is missing beside the model "
                          "(a Piper voice is voice.onnx + voice.onnx.json)")
    fallback = get_str(d["fallback"], at(d, "fallback", where), ("none", "local")) if "fallback" in d else "none"
    return PiperSettings(model.resolve() if model else None, "local" if fallback == "local" else "none")

"""Query-parameter parsing with Civitai's rules (§1.4): strict/coercing booleans, enum lists, zod issues."""

from __future__ import annotations

MODEL_SORTS = ["Highest Rated", "Most Downloaded", "Most Liked", "Most Discussed", "Most Collected",
               "Most Images", "Newest", "Oldest"]
IMAGE_SORTS = ["Most Reactions", "Most Comments", "Most Collected", "Newest", "Oldest", "Random"]
MODEL_TYPES = ["Checkpoint", "TextualInversion", "Hypernetwork", "AestheticGradient", "LORA", "LoCon", "DoRA",
               "Controlnet", "Upscaler", "MotionModule", "VAE", "TextEncoder", "UNet", "CLIPVision", "Poses",
               "Wildcards", "Workflows", "ComfyWorkflows", "Detection", "VisionLanguage", "CLIP", "LLM", "Other"]
FILE_TYPES = ["Model", "Text Encoder", "Vision Encoder", "Pruned Model", "Negative", "Training Data", "VAE",
              "Config", "Archive", "UNet", "Diffusion Model", "CLIPVision", "ControlNet", "Workflow", "Upscaler",
              "Enhancement LoRA", "Other"]
FILE_FORMATS = ["SafeTensor", "PickleTensor", "GGUF", "Diffusers", "Core ML", "ONNX", "Other"]
PERIODS = ["AllTime", "Year", "Month", "Week", "Day"]
COMMERCIAL_USE = ["None", "Image", "RentCivit", "Rent", "Sell"]
MEDIA_TYPES = ["image", "video", "audio"]
TRUE_WORDS = {"true", "1", "yes", "on", "y", "enabled"}
FALSE_WORDS = {"false", "0", "no", "off", "n", "disabled"}


def _num_text(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


class Params:
    """Collects zod-style issues while reading parameters; check ``issues`` when done."""

    def __init__(self, req):
        self.req = req
        self.issues: list[dict] = []

    def number(self, name: str, *, minimum=None, maximum=None, default=None, integer=True):
        raw = self.req.one(name)
        if raw is None:
            return default
        try:
            value = float(raw) if raw.strip() else float("nan")
        except ValueError:
            value = float("nan")
        if value != value or value in (float("inf"), float("-inf")):
            self.issues.append({"expected": "number", "code": "invalid_type", "path": [name],
                                "message": "Invalid input: expected number, received NaN"})
            return default
        if integer and value != int(value):
            self.issues.append({"expected": "int", "format": "safeint", "code": "invalid_type", "path": [name],
                                "message": "Invalid input: expected int, received number"})
            return default
        if minimum is not None and value < minimum:
            self.issues.append({"origin": "number", "code": "too_small", "minimum": minimum, "inclusive": True,
                                "path": [name], "message": f"Too small: expected number to be >={_num_text(minimum)}"})
            return default
        if maximum is not None and value > maximum:
            self.issues.append({"origin": "number", "code": "too_big", "maximum": maximum, "inclusive": True,
                                "path": [name], "message": f"Too big: expected number to be <={_num_text(maximum)}"})
            return default
        return int(value) if integer else value

    def enum(self, name: str, values: list[str], default=None):
        raw = self.req.one(name)
        if raw is None:
            return default
        if raw not in values:
            self._bad_option([name], values)
            return default
        return raw

    def enum_list(self, name: str, values: list[str]) -> list[str]:
        """Repeated keys only: ``types=LORA,VAE`` is one unknown value, hence a 400."""
        out = []
        for i, raw in enumerate(self.req.all(name)):
            if raw not in values:
                self._bad_option([name, i], values)
            else:
                out.append(raw)
        return out

    def strict_bool(self, name: str, default=None):
        raw = self.req.one(name)
        if raw is None:
            return default
        low = raw.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        self.issues.append({"expected": "boolean", "code": "invalid_type", "path": [name],
                            "message": "Invalid input: expected boolean, received string"})
        return default

    def coercing_bool(self, name: str):
        """Any non-empty value is true, including ``false`` (§1.4)."""
        raw = self.req.one(name)
        if raw is None:
            return None
        return bool(raw)

    def forbid(self, name: str, expected: str = "boolean") -> None:
        """Typed parameters no query string can satisfy: present at all -> 400."""
        if self.req.has(name):
            self.issues.append({"expected": expected, "code": "invalid_type", "path": [name],
                                "message": f"Invalid input: expected {expected}, received string"})

    def number_list(self, name: str) -> list[int]:
        out = []
        for raw in self.req.all(name):
            for i, part in enumerate(p for p in raw.split(",") if p.strip()):
                try:
                    out.append(int(part))
                except ValueError:
                    self.issues.append({"expected": "number", "code": "invalid_type", "path": [name, i],
                                        "message": "Invalid input: expected number, received NaN"})
        return out

    def _bad_option(self, path: list, values: list[str]) -> None:
        expected = "|".join(f'"{v}"' for v in values)
        self.issues.append({"code": "invalid_value", "values": values, "path": path,
                            "message": f"Invalid option: expected one of {expected}"})

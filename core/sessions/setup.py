"""The Setup panel's state, headless: the data set to train on, the model family with its settings as the user
typed them (remembered per family), the training settings (the learning rate follows the family's until
edited), latent diffusion's base checkpoint, and what Start will do.

It follows the workspace. A model loaded from a checkpoint, or delivered by a followed run, shows here with its
family and settings, and ``origin`` says where they came from; Start then offers the honest choices
(``plans``): continue that run from its checkpoint, or a new run with the settings shown, in a new folder.
Nothing else is ever trained than what is shown. ``problems`` checks every field at once; ``start`` is the
``Work`` that builds the run (through ``core.runs.recipe``); ``core.sessions.command_line`` makes the
``python main.py train …`` arguments that train the same run in a process (or ``processes`` ranks) of its own,
when ``own_process`` is chosen.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from models import SettingError, SettingSpec, family, names
from models.latent_diffusion import can_be_base

from ..errors import LatentExplorerError
from ..image.data import ImageData, load_dataset
from ..runs.recipe import family_of, image_run, needs_base, resumed_run
from ..train.device import available_devices, pick_device
from ..train.folder import RunFolder
from ..train.loop import TrainConfig
from . import Work
from .workspace import Workspace

DATASETS = {"digits": "Digits (8×8, built in)", "mnist": "MNIST (28×28)", "fashion-mnist": "Fashion-MNIST (28×28)",
            "cifar10": "CIFAR-10 (32×32, colour)", "cifar100": "CIFAR-100 (32×32, colour)",
            "olivetti": "Olivetti faces (64×64)"}
#: files that are one of the built-in data sets under another path (the Faces demo opens Olivetti's .mat)
BUILTIN_FILES = {"olivettifaces.mat": "olivetti"}
DEFAULT_MODEL = "vae"
TRAINING_LABELS = {"lr": "Learning rate", "lr_schedule": "Rate schedule", "batch_size": "Batch size",
                   "epochs": "Epochs", "device": "Device"}
LR_SCHEDULES = {"constant": "Constant", "cosine": "Cosine"}  # (short: the Setup dock is no wider for it)
TRAINING_RANGES = {"batch_size": (1, 1 << 20), "epochs": (1, 10**7)}  # (as ``TrainConfig.check`` has them)
NEW, CONTINUE = "new", "continue"
MAX_PROCESSES = 64  # ranks of one run started from the Setup
Listener = Callable[[str], None]  # what changed: "form", "data", "origin", "run"


@dataclass(frozen=True)
class Origin:
    """Where the settings shown came from: the workspace's model, and the run that trained it."""
    kind: str  # "checkpoint", "followed" (a run another process trains) or "memory" (no file: a demo's model)
    family: str
    values: dict  # its editable settings, checked
    path: Path | None = None
    epoch: int = 0  # epochs it has trained
    epochs: int = 0  # epochs its run was set to
    dataset: str = ""  # what it trained on

    def describe(self) -> str:
        trained = f"{self.epoch} of {self.epochs} epochs" if self.epochs else f"{self.epoch} epochs"
        data = f" on {Path(self.dataset).name or self.dataset}" if self.dataset else ""
        if self.kind == "memory":
            return f"{self.family}: the settings of the current model (made in memory, not saved to a file)"
        if self.kind == "followed":
            so_far = " so far" if self.epoch < self.epochs else ""  # (its last checkpoint: the run has ended)
            return f"{self.family}, {trained}{so_far}{data}: the settings of the followed run {self.path.parent}"
        return f"{self.family}, trained {trained}{data}: the settings of {self.path}"


@dataclass(frozen=True)
class Running:
    """What trains now, here or (followed) in another process."""
    family: str  # '' while a followed run has not delivered its model
    modality: str  # likewise
    folder: Path | None
    followed: bool = False
    from_form: bool = False  # built by this session's ``start``: the settings shown
    resumed: bool = False

    def describe(self) -> str:
        if self.followed:
            return f"Following {self.folder}: another process trains it"
        what = f"{'Continuing' if self.resumed else 'Training'} {self.family}" + (f" → {self.folder}" if self.folder else "")
        if self.modality != "image":
            return f"{what}: an {self.modality} model (Audio panel); the image settings below are not what trains"
        return what + ("" if self.from_form else "; the settings below are not what trains")


def data_key(source: str) -> str:
    """The data-set choice ``source`` is: a built-in name (also for a built-in set's own file), else the path."""
    if source in DATASETS:
        return source
    return BUILTIN_FILES.get(Path(source).name, source)


def editable_specs(name: str) -> list[SettingSpec]:
    """The settings of family ``name`` the user sets (derived ones, like a base model, have their own rows)."""
    return family(name).specs(editable_only=True)


def labelled(spec: SettingSpec, exc: Exception) -> str:
    """A setting's problem named by its label: 'Hidden sizes must be a number, got 'abc''."""
    return f"{spec.label}{str(exc).removeprefix(spec.name)}"


class SetupSession:
    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.family = DEFAULT_MODEL
        self._typed: dict[str, dict[str, Any]] = {}  # family -> setting -> value as typed (text, number, list)
        self.lr: float | None = family(DEFAULT_MODEL).lr  # None while what was typed is not a number
        self.lr_text = str(self.lr)  # as shown: the number, or what the user typed
        self.lr_source = "family"  # "family" (follows it), "typed" (the user's) or "run" (the origin's)
        self.batch_size, self.epochs, self.device = TrainConfig.batch_size, TrainConfig.epochs, "auto"
        self.lr_schedule = TrainConfig.lr_schedule
        self.base = ""  # latent diffusion's base checkpoint
        self.base_chosen = False  # until the user picks one, the base follows the workspace's autoencoder/VAE
        self.plan = NEW
        self.own_process, self.processes = False, 1  # Start trains in this many processes of its own
        self.origin: Origin | None = None
        self.running: Running | None = None
        self.sources: list[str] = []  # data choices besides the built-ins (files, folders), newest last
        self.loading = ""  # the data source being loaded
        self.data_problem = ""  # why the last data choice could not be loaded
        self._load_generation = 0
        self._built = None  # the run ``start`` built last
        self._listeners: list[Listener] = []
        workspace.listen(self._on_workspace)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(what)

    # --- data ---------------------------------------------------------------------------------
    def data_choices(self) -> list[tuple[str, str]]:
        """(key, label) of each data set to offer: the built-ins, then the files and folders used."""
        return [*DATASETS.items(), *((s, Path(s).name or s) for s in self.sources)]

    @property
    def data_choice(self) -> str:
        """The key of the data set being loaded, else of the open one."""
        return data_key(self.loading or self.workspace.data_source or "")

    def load_data(self, source: str) -> Work | None:
        """The Work that loads ``source`` (a built-in name, a file or a folder) into the workspace; None when
        it is the data set already open."""
        path = Path(source).expanduser()
        if source not in DATASETS and path.exists():
            source = str(path.resolve())
        if self.workspace.data is not None and not self.loading and data_key(source) == self.data_choice:
            return None
        self._load_generation += 1
        self.loading, self.data_problem = source, ""
        self._changed("data")
        return Work(f"Loading data set {Path(source).name or source}", load_dataset, (source,),
                    functools.partial(self._data_loaded, self._load_generation, source))

    def _data_loaded(self, generation: int, source: str, data: ImageData) -> ImageData | None:
        if generation != self._load_generation:
            return None  # a newer choice superseded this load
        self.loading = ""
        self.workspace.set_data(data, source)  # -> _on_workspace("data")
        return data

    def data_failed(self, source: str, message: str) -> None:
        """Loading ``source`` failed: the open data set stays, the problem shows."""
        if source == self.loading:
            self.loading, self.data_problem = "", message
            self._changed("data")

    # --- the model ----------------------------------------------------------------------------
    @staticmethod
    def families() -> list[str]:
        return names("image")

    def specs(self) -> list[SettingSpec]:
        return editable_specs(self.family)

    def value(self, setting: str) -> Any:
        """The value of ``setting`` of the current family as typed (its default until then)."""
        typed = self._typed.get(self.family, {})
        if setting in typed:
            return typed[setting]
        return next(s.default for s in self.specs() if s.name == setting)

    def set_family(self, name: str) -> None:
        family_of(name)
        self.family = name
        if self.lr_source != "typed":
            self._set_lr(family(name).lr, "family")
        self._changed("form")

    def set_value(self, setting: str, value: Any) -> None:
        self._typed.setdefault(self.family, {})[setting] = value
        self._changed("form")

    def set_base(self, path: str | Path) -> None:
        """Use this checkpoint as latent diffusion's base (it is read when the run is built)."""
        self.base, self.base_chosen = str(Path(path).expanduser()), True
        self._changed("form")

    @property
    def needs_base(self) -> bool:
        return needs_base(self.family)

    # --- training settings --------------------------------------------------------------------
    def set_lr(self, text: str) -> None:
        self._type_lr(text)
        self._changed("form")

    def _type_lr(self, text: str) -> None:
        """The learning rate as the user typed it: a number from then on (None while it is not one)."""
        self.lr_text, self.lr_source = text.strip(), "typed"
        try:
            self.lr = float(self.lr_text)
        except ValueError:
            self.lr = None

    def _set_lr(self, lr: float, source: str) -> None:
        self.lr, self.lr_text, self.lr_source = float(lr), str(lr), source

    def set_lr_schedule(self, name: str) -> None:
        self.lr_schedule = name
        self._changed("form")

    def set_batch_size(self, value: int) -> None:
        self.batch_size = value
        self._changed("form")

    def set_epochs(self, value: int) -> None:
        self.epochs = value
        self._changed("form")

    def set_device(self, device: str) -> None:
        self.device = device
        self._changed("form")

    def set_launch(self, own_process: bool, processes: int = 1) -> None:
        """Start trains here (a thread of this process) or in ``processes`` processes of its own (ranks of one
        data-parallel run when more than one), which go on when the window closes."""
        if not 1 <= int(processes) <= MAX_PROCESSES:
            raise LatentExplorerError(f"Processes must be a whole number from 1 to {MAX_PROCESSES}, got {processes}")
        self.own_process, self.processes = bool(own_process), int(processes)
        self._changed("form")

    @staticmethod
    def devices() -> list[tuple[str, str]]:
        """(key, label) of each device to offer: auto (naming what it picks), then those present."""
        return [("auto", f"auto ({pick_device('auto')})"), *((d, d) for d in available_devices())]

    # --- following the workspace --------------------------------------------------------------
    def _on_workspace(self, what: str) -> None:
        if what == "data":
            key = data_key(self.workspace.data_source)
            if key and key not in DATASETS and key not in self.sources:
                self.sources.append(key)
            self.data_problem = ""
            self._changed("data")
        elif what == "model":
            self._adopt_model()

    def _adopt_model(self) -> None:
        """Show the workspace's model: its family and settings, and where they came from. A followed run's
        newer checkpoint leaves settings the user has changed meanwhile as they are."""
        model, source = self.workspace.model, self.workspace.model_source
        if model is None or model.capabilities.modality != "image":
            self.origin = None
            self._changed("origin")
            return
        if not self.base_chosen and source.path is not None and can_be_base(model):
            self.base = str(source.path)
        specs = editable_specs(model.name)
        state = source.train_state
        config = state.get("config", {})
        origin = Origin("followed" if source.followed else "checkpoint" if source.path else "memory", model.name,
                        {s.name: s.check(model.config[s.name]) for s in specs if s.name in model.config},
                        source.path, int(state.get("epoch", 0)), int(config.get("epochs", 0)),
                        str(state.get("dataset", "")))
        keep_edits = (self.origin is not None and origin.path is not None and origin.path == self.origin.path
                      and self.edited)
        self.origin = origin
        if not keep_edits:
            self.family = model.name
            self._typed[model.name] = {name: model.config[name] for name in origin.values}
            if "lr" in config:
                self._set_lr(config["lr"], "run")
            self.batch_size = int(config.get("batch_size", self.batch_size))
            self.lr_schedule = config.get("lr_schedule", TrainConfig.lr_schedule)
            self.epochs = origin.epochs or self.epochs
            self.plan = NEW if self.continue_problem()[1] else CONTINUE
        self._changed("origin")

    @property
    def edited(self) -> bool:
        """Whether the model settings shown differ from the origin's (so only a new run can have them)."""
        if self.origin is None:
            return False
        if self.family != self.origin.family:
            return True
        try:
            return self.model_values() != self.origin.values
        except SettingError:
            return True

    def describe_origin(self) -> str:
        """Where the settings shown came from ('' for the user's own)."""
        if self.origin is None:
            return ""
        text = self.origin.describe()
        return text + ("; changed here since, so Start trains a new run" if self.edited else "")

    # --- what trains --------------------------------------------------------------------------
    def run_started(self, run) -> None:
        """A run started here (this session's, or another panel's, e.g. an audio denoiser)."""
        modality = family_of(run.model_name).capabilities.modality
        self.running = Running(run.model_name, modality, run.out_dir, from_form=run is self._built,
                               resumed=run.resume is not None)
        self.data_problem = ""  # (a data set that failed before is no longer the news)
        self._changed("run")

    def following(self, folder: str | Path) -> None:
        self.running = Running("", "", Path(folder), followed=True)  # (what it trains: once its checkpoint comes)
        self._changed("run")

    def run_ended(self) -> None:
        self.running = None
        self._changed("run")

    @property
    def form_is_training(self) -> bool:
        """Whether the settings shown are what trains now (then they cannot change)."""
        return self.running is not None and self.running.from_form

    # --- what Start does ----------------------------------------------------------------------
    def continue_problem(self) -> tuple[str, str]:
        """(the field at fault, why) the origin's run cannot be continued as shown; ('', '') if it can."""
        o = self.origin
        if o is None or o.path is None:
            return "plan", "there is no run to continue: open its checkpoint (File ▸ Open checkpoint…)"
        if self.edited:
            return "plan", "the model settings differ from the run's"
        if not o.dataset:
            return "plan", f"{o.path} does not say which data set it was trained on"
        ours = self._built is not None and self._built.out_dir == o.path.parent  # (the writer is this process)
        if not ours and RunFolder(o.path.parent).state().kind == "owned":
            return "plan", "another process is still training it"
        if self.epochs <= o.epoch:
            return "epochs", f"it has trained {o.epoch} epochs: set Epochs above {o.epoch} to continue it"
        return "", ""

    def plans(self) -> dict[str, str]:
        """The plans Start can take now, each with why it cannot ('' if it can): a new run always; continuing
        the origin's run when there is one with a checkpoint."""
        offered = {NEW: ""}
        if self.origin is not None and self.origin.path is not None:
            offered[CONTINUE] = self.continue_problem()[1]
        return offered

    def set_plan(self, plan: str) -> None:
        self.plan = plan
        self._changed("form")

    @property
    def plan_now(self) -> str:
        """The plan Start takes: the one chosen, unless the run cannot be continued for a reason other than too
        few epochs (e.g. the settings were changed: then a new run)."""
        return CONTINUE if self.plan == CONTINUE and self.continue_problem()[0] != "plan" else NEW

    def describe_start(self) -> str:
        """What Start does, in one line."""
        if self.plan_now == CONTINUE:
            o = self.origin
            where = "in its folder" if o.path.name == "checkpoint.pt" else "in a new folder"
            return (f"Continue {o.family} from epoch {o.epoch} to {self.epochs}, {where}, on "
                    f"{Path(o.dataset).name or o.dataset}{self._describe_launch()}")
        data = self.workspace.data.name if self.workspace.data is not None else "the data set"
        return (f"Train a new {self.family} on {data} for {self.epochs} epochs, in a new run folder"
                f"{self._describe_launch()}{self._batch_note()}")

    def _batch_note(self) -> str:
        """A note when the batch is larger than the training split (every step then takes all of it)."""
        data = self.workspace.data
        if data is None or len(data) < 2:
            return ""
        train = len(data) - min(len(data) - 1, max(1, int(round(len(data) * TrainConfig.val_fraction))))
        if self.batch_size <= train:
            return ""
        return (f". Note: a batch of {self.batch_size:,} is larger than the {train:,} training images, so every "
                "step takes all of them (one step per epoch)")

    def _describe_launch(self) -> str:
        if not self.own_process:
            return ""
        return (" in a process of its own" if self.processes == 1 else f" in {self.processes} processes (data parallel)") \
            + ", which goes on if the window closes"

    # --- checking -----------------------------------------------------------------------------
    def model_values(self) -> dict[str, Any]:
        """The current family's settings, checked (SettingError naming the first one that is not valid)."""
        out = {}
        for spec in self.specs():
            raw = self.value(spec.name)
            out[spec.name] = spec.parse(raw) if isinstance(raw, str) else spec.check(raw)
        return out

    def problems(self) -> dict[str, str]:
        """Every field that is not valid for the plan Start takes -> one line saying why (empty: Start can go).
        Keys: a setting's name, "lr", "batch_size", "epochs", "device", "data", "base", "model" (the settings
        together) and "plan"."""
        if self.plan_now == CONTINUE:
            key, reason = self.continue_problem()
            return {**({key: f"Cannot continue: {reason}"} if reason else {}), **self._training_problems()}
        out = {}
        data = self.workspace.data
        if data is None:
            out["data"] = "Loading the data set…" if self.loading else "No data set is loaded yet"
        for spec in self.specs():
            raw = self.value(spec.name)
            try:
                spec.parse(raw) if isinstance(raw, str) else spec.check(raw)
            except SettingError as exc:
                out[spec.name] = labelled(spec, exc)
        if self.needs_base:
            if not self.base:
                out["base"] = f"{self.family} works on a trained autoencoder or VAE: choose its checkpoint as the Base model"
            elif not Path(self.base).is_file():
                out["base"] = f"{self.base}: no such checkpoint file"
        elif data is not None and not set(out) & {s.name for s in self.specs()}:
            try:  # settings that only fail together (e.g. a flow on odd image sides)
                derived = {s.name for s in family(self.family).specs() if s.derived}
                stand_ins = {k: v for k, v in placeholders(data).items() if k in derived}
                family(self.family).settings({**self.model_values(), **stand_ins})
            except SettingError as exc:
                out["model"] = str(exc)
        return {**out, **self._training_problems()}

    def _training_problems(self) -> dict[str, str]:
        out = {}
        if self.lr is None:
            out["lr"] = f"Learning rate: {self.lr_text!r} is not a number (e.g. 1e-3)"
        for name, value in (("lr", self.lr), ("batch_size", self.batch_size), ("epochs", self.epochs)):
            if value is not None:
                try:
                    TrainConfig(**{name: value}).check()
                except LatentExplorerError as exc:
                    out[name] = TRAINING_LABELS[name] + str(exc).removeprefix(name.replace("_", " "))
        try:
            pick_device(self.device)
        except LatentExplorerError as exc:
            out["device"] = f"Device: {exc}"
        return out

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=int(self.epochs), batch_size=int(self.batch_size), lr=self.lr,
                           lr_schedule=self.lr_schedule, device=self.device)

    # --- the run --------------------------------------------------------------------------
    def start(self, new_folder: Callable[[str, str], Path]) -> Work:
        """The Work that builds the run Start means (``new_folder(model, data source)`` names a fresh run folder);
        LatentExplorerError naming every problem when the form is not valid."""
        self.check_start()
        config = self.train_config()
        if self.plan_now == CONTINUE:
            o = self.origin
            build = functools.partial(resumed_run, o.path, self.continue_folder(new_folder), epochs=config.epochs,
                                      lr=config.lr, lr_schedule=config.lr_schedule, batch_size=config.batch_size,
                                      device=config.device)
            return Work(f"Continuing {o.path}", build, (), self._run_built)
        ws = self.workspace
        base = Path(self.base) if self.needs_base else None
        return Work(f"Preparing the {self.family} run", image_run,
                    (self.family, self.model_values(), ws.data, ws.data_source, config,
                     new_folder(self.family, ws.data_source), base), self._run_built)

    def check_start(self) -> None:
        """LatentExplorerError naming every problem when the form is not valid for the plan Start takes."""
        problems = self.problems()
        if problems:
            raise LatentExplorerError("; ".join(problems.values()))

    def continue_folder(self, new_folder: Callable[[str, str], Path]) -> Path:
        """Where the origin's run is continued: its own folder, or a new one for a checkpoint saved elsewhere."""
        o = self.origin
        return o.path.parent if o.path.name == "checkpoint.pt" else new_folder(o.family, o.dataset)

    def _run_built(self, run):
        self._built = run
        return run

    # --- remembered between sessions --------------------------------------------------------
    def remembered(self) -> dict:
        """What the next session starts from (JSON-able)."""
        return {"families": self._typed, "common": {
            "model": self.family, "lr": self.lr_text if self.lr_source == "typed" else None,
            "lr_schedule": self.lr_schedule, "batch_size": self.batch_size, "epochs": self.epochs,
            "device": self.device,
            "own_process": self.own_process, "processes": self.processes}}

    def restore(self, families: dict, common: dict) -> None:
        """Start from ``remembered()``'s parts; what does not fit (an unknown family or device) is left out."""
        self._typed = {name: dict(values) for name, values in families.items()
                       if name in self.families() and isinstance(values, dict)}
        if common.get("model") in self.families():
            self.family = common["model"]
        self._set_lr(family(self.family).lr, "family")
        if common.get("lr") and str(common["lr"]) != self.lr_text:
            self._type_lr(str(common["lr"]))
        for name in ("batch_size", "epochs"):
            if isinstance(common.get(name), int):
                setattr(self, name, common[name])
        if isinstance(common.get("own_process"), bool):
            self.own_process = common["own_process"]
        if isinstance(common.get("processes"), int) and 1 <= common["processes"] <= MAX_PROCESSES:
            self.processes = common["processes"]
        if common.get("lr_schedule") in LR_SCHEDULES:
            self.lr_schedule = common["lr_schedule"]
        if common.get("device") in dict(self.devices()):
            self.device = common["device"]
        self._changed("form")


def placeholders(data: ImageData) -> dict:
    """What the data decides of a model's settings, as far as checking the others needs (the statistics are
    computed when the run is built)."""
    c = data.image_shape[0]
    return {"image_shape": list(data.image_shape), "mean": [0.5] * c, "std": [0.25] * c}

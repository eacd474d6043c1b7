"""Agents by name: which policy, which trainer, which frozen parts.

=============================  ==========  ====================================================
agent                          trainer     policy
=============================  ==========  ====================================================
vlm-zero-shot                  none        the pre-trained VLM scoring the answer words
vlm-ppo                        PPO         the VLM with LoRA (interaction, multi-step capable)
vlm-grpo                       GRPO        the VLM with LoRA (one-step interaction, the paper's RL)
vlm-sft                        SFT         the VLM with LoRA on simulator-labelled answers
hybrid                         PPO         task-agnostic: learned grounder + learned parser +
                                           GNN executor + decision network (``TaskAgnosticHybrid``)
hybrid-gold-program            PPO         as hybrid, the gold program instead of the parser's
hybrid-oracle                  PPO         as hybrid, grounded from the simulator's ground truth
hybrid-no-dynamics             PPO         as hybrid, without imagined rollouts
hybrid-task-code               PPO         told its task: the task's hand-written semantics
                                           (``HybridPolicy``), the upper bound
hybrid-task-code-oracle        PPO         hybrid-task-code grounded from ground truth
hybrid-task-code-no-dynamics   PPO         hybrid-task-code without imagined rollouts
hybrid-task-slots              PPO         hybrid-task-code, events as the tasks' own slots
mlp                            PPO         an MLP on vector observations (any gymnasium Box env)
cue-<name>, cue-all            fit         a logistic regression on one simulator-given cue (or
                                           all of them): what a shortcut scores (``agent.cues``)
=============================  ==========  ====================================================

Runs recorded before the task-agnostic hybrid existed (no ``parser`` field in their spec) named
the task-code agents ``hybrid``, ``hybrid-oracle`` and ``hybrid-no-dynamics``;
``AgentSpec.from_dict`` reads them under their present names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym

from physground import envs
from physground.agent.cues import CUE_AGENTS, CuePolicy, agent_cues
from physground.agent.policies import MLPPolicy, Policy
from physground.envs.answer_formats import answer_format
from physground.envs.files import weights_digest
from physground.envs.scene import DEFAULT_MULTISAMPLES, LEGACY_MULTISAMPLES, SceneConfig
from physground.perception.vlm import lora_target_pattern

TRAINER = {
    "vlm-zero-shot": "none", "vlm-ppo": "ppo", "vlm-grpo": "grpo", "vlm-sft": "sft",
    "hybrid": "ppo", "hybrid-gold-program": "ppo", "hybrid-oracle": "ppo", "hybrid-no-dynamics": "ppo",
    "hybrid-task-code": "ppo", "hybrid-task-code-oracle": "ppo", "hybrid-task-code-no-dynamics": "ppo", "hybrid-task-slots": "ppo",
    "mlp": "ppo",
    **{agent: "fit" for agent in CUE_AGENTS},
}
"""Each agent's trainer; its keys are the agents."""
AGENTS = tuple(TRAINER)
TASK_CODE_AGENTS = ("hybrid-task-code", "hybrid-task-code-oracle", "hybrid-task-code-no-dynamics", "hybrid-task-slots")
"""Hybrid agents told their task (its hand-written semantics): upper bounds, not question readers."""
TASK_AGNOSTIC_AGENTS = ("hybrid", "hybrid-gold-program", "hybrid-oracle", "hybrid-no-dynamics")
"""Hybrid agents that read the question (``TaskAgnosticHybrid``)."""
PARSING_AGENTS = ("hybrid", "hybrid-oracle", "hybrid-no-dynamics")
"""Agents that parse the question with the learned parser (``AgentSpec.parser``)."""
LEARNED_GROUNDER_AGENTS = tuple(a for a in AGENTS if a.startswith("hybrid") and not a.endswith("-oracle"))
"""Agents that ground images with the learned grounder (``AgentSpec.grounder``)."""
IMAGINING_AGENTS = tuple(a for a in AGENTS if a.startswith("hybrid") and not a.endswith("-no-dynamics"))
"""Agents that imagine with a dynamics model (``AgentSpec.dynamics``)."""
LEGACY_AGENT_NAMES = {"hybrid": "hybrid-task-code", "hybrid-oracle": "hybrid-task-code-oracle", "hybrid-no-dynamics": "hybrid-task-code-no-dynamics"}
"""What runs recorded before the task-agnostic hybrid called the task-code agents."""


def reads_the_question(agent: str) -> bool:
    """Whether an agent answers from the image, question and option words alone (the VLM agents
    and the task-agnostic hybrids), so that a task it was never trained on is a fair test; the
    task-code hybrids are given their task's program."""
    return agent.startswith("vlm") or agent in TASK_AGNOSTIC_AGENTS


@dataclass
class AgentSpec:
    """Everything that defines an agent of a run (saved in its ``config.json``).

    Attributes:
        agent: One of ``AGENTS``.
        task: A physground task name, or any gymnasium id for ``mlp``.
        seed: The run's one seed.
        vlm: VLM checkpoint folder, or a name of ``perception.vlm_names.resolve_vlm`` ("tiny", the default; "smollm2").
        grounder: Learned grounder folder (default: the shipped one).
        dynamics: Dynamics model folder (default: the shipped GNN).
        parser: Question parser folder of the parsing hybrids (default: the shipped parser of the
            ``base`` fold, trained on the six base tasks' train templates).
        lora_rank: LoRA rank of VLM agents (0: full fine-tuning).
        lora_targets: Where VLM agents' adapters go: "language" or "all" (also the vision tower).
        vlm_mode: "score" or "generate".
        answer_format: How a generating VLM agent is asked to answer and read
            (``envs.answer_formats``: "free", the default, or "tagged", the paper's
            ``<answer>...</answer>``; "tagged" needs ``vlm_mode="generate"``).
        image_size: Observation size of physground tasks.
        multisamples: Anti-aliasing samples per pixel of the observations
            (``SceneConfig.multisamples``). Runs recorded before this field rendered with 0.
        task_version: The task suite's version the run trains and is evaluated in
            (``envs.TASK_VERSION``: 1 = yes/no answers balanced within the strata of their cues).
            Runs recorded before this field used 0.
    """

    agent: str
    task: str
    seed: int = 0
    vlm: str | None = None
    grounder: str | None = None
    dynamics: str | None = None
    parser: str | None = None
    lora_rank: int = 16
    lora_targets: str = "language"
    vlm_mode: str = "score"
    answer_format: str = "free"
    image_size: int = 128
    multisamples: int = DEFAULT_MULTISAMPLES
    task_version: int = envs.TASK_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; valid: {', '.join(AGENTS)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        if is_physground(self.task):
            self.task = envs.task_spec(self.task).name
        elif self.agent != "mlp":
            raise ValueError(f"unknown task {self.task!r} for agent {self.agent}; valid: {', '.join(envs.TASKS)}")
        elif self.task not in gym.registry:
            raise ValueError(f"unknown task {self.task!r}: neither a physground task ({', '.join(envs.TASKS)}) nor a registered gymnasium id")
        if not can_train(self.agent, self.task):
            raise ValueError(f"{self.agent} trains on one-step tasks only (GRPO samples a group of answers to one scene); {self.task} is multi-step: use vlm-ppo")
        if self.vlm_mode not in ("score", "generate"):
            raise ValueError(f"unknown VLM mode {self.vlm_mode!r}; valid: score, generate")
        tagged = answer_format(self.answer_format).tagged
        if tagged and not self.agent.startswith("vlm"):
            raise ValueError(f"answer format {self.answer_format!r} is for the VLM agents that generate; {self.agent} does not write its answers")
        if tagged and self.vlm_mode != "generate":
            raise ValueError(f"answer format {self.answer_format!r} is for VLM agents in generate mode (vlm_mode='generate'); {self.agent} has vlm_mode {self.vlm_mode!r}")
        if not isinstance(self.lora_rank, int) or self.lora_rank < 0:
            raise ValueError(f"lora_rank must be an integer >= 0, got {self.lora_rank!r}")
        lora_target_pattern(self.lora_targets)  # raises on an unknown name
        SceneConfig(image_size=self.image_size, multisamples=self.multisamples)  # raises naming a bad value
        envs.check_task_version(self.task_version)
        if self.vlm is not None and self.agent in CUE_AGENTS:
            raise ValueError(f"a VLM ({self.vlm!r}) is for the VLM and hybrid agents; {self.agent} reads the scene's cues")
        if self.grounder is not None and self.agent not in LEARNED_GROUNDER_AGENTS:
            raise ValueError(f"a grounder ({self.grounder!r}) is for {', '.join(LEARNED_GROUNDER_AGENTS)}; {self.agent} does not use one")
        if self.parser is not None and self.agent not in PARSING_AGENTS:
            raise ValueError(f"a parser ({self.parser!r}) is for {', '.join(PARSING_AGENTS)}; {self.agent} does not parse the question")
        if self.dynamics is not None and self.agent not in IMAGINING_AGENTS:
            raise ValueError(f"a dynamics model ({self.dynamics!r}) is for {', '.join(IMAGINING_AGENTS)}; {self.agent} does not imagine")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "agent spec") -> AgentSpec:
        """The spec of a run's ``config.json`` (every field checked; ``where`` names the source in
        errors); runs recorded before ``multisamples`` existed rendered aliased observations (0).

        Raises:
            ValueError: Not a mapping, an unknown or missing field, or a bad value.
        """
        from physground.envs.typed_config import from_mapping

        if not isinstance(data, dict):
            raise ValueError(f"{where} must be a mapping of settings, got {type(data).__name__}")
        if "parser" not in data and data.get("agent") in LEGACY_AGENT_NAMES:  # recorded before the task-agnostic hybrid
            data = {**data, "agent": LEGACY_AGENT_NAMES[data["agent"]]}
        return from_mapping(cls, {"multisamples": LEGACY_MULTISAMPLES, "parser": None, "task_version": 0, **data}, where)

    @property
    def trainer(self) -> str:
        return TRAINER[self.agent]


IMAGINE_AT_LEAST = 1.0
"""Seconds the task-agnostic hybrids imagine at least, whatever a program's horizon."""


def component_folders(spec: AgentSpec) -> dict[str, Path]:
    """The checkpoint folders ``spec``'s policy loads: ``vlm`` (every agent but mlp and the cue
    baselines), ``grounder``
    (hybrid agents with the learned grounder), ``parser`` (hybrid agents that parse the question),
    ``dynamics`` (hybrid agents that imagine)."""
    if spec.agent == "mlp" or spec.agent in CUE_AGENTS:
        return {}
    from physground.dynamics.checkpoint import SHIPPED_GNN
    from physground.perception.grounder_training import SHIPPED_GROUNDER
    from physground.perception.parser_training import SHIPPED_PARSERS
    from physground.perception.vlm_names import resolve_vlm

    out = {"vlm": resolve_vlm(spec.vlm)}
    if spec.agent in PARSING_AGENTS:
        out["parser"] = Path(spec.parser or SHIPPED_PARSERS / "base")
    if spec.agent in LEARNED_GROUNDER_AGENTS:
        out["grounder"] = Path(spec.grounder or SHIPPED_GROUNDER)
    if spec.agent in IMAGINING_AGENTS:
        out["dynamics"] = Path(spec.dynamics or SHIPPED_GNN)
    return out


def weight_digests(spec: AgentSpec) -> dict[str, str]:
    """SHA-256 of the weights of every component ``spec`` loads (``component_folders``), for the
    run's config: a run says which models it used even where the config names the shipped default."""
    return {name: weights_digest(folder) for name, folder in component_folders(spec).items()}


def check_weight_digests(spec: AgentSpec, recorded: dict[str, str], run: str) -> None:
    """Refuse to rebuild a run's policy from components other than those it was trained with.

    Raises:
        ValueError: A component whose weights changed since (e.g. a retrained shipped model),
            naming it and both digests.
    """
    for name, folder in component_folders(spec).items():
        if name not in recorded:
            continue
        digest = weights_digest(folder)
        if digest != recorded[name]:
            raise ValueError(
                f"run {run!r} was trained with {name} weights {recorded[name][:12]}..., but {str(folder)!r} "
                f"now holds {digest[:12]}...: evaluate it with the checkpoint it was trained with"
            )


def can_train(agent: str, task: str) -> bool:
    """Whether ``agent``'s trainer can train on ``task``: GRPO needs one-step episodes."""
    return TRAINER.get(agent) != "grpo" or not is_physground(task) or envs.task_spec(task).is_one_step


def is_physground(task: str) -> bool:
    try:
        envs.task_spec(task)
        return True
    except ValueError:
        return False


def env_factory(task: str, image_size: int = 128, multisamples: int = DEFAULT_MULTISAMPLES, phrasing: str = "canonical",
                task_version: int = envs.TASK_VERSION, render: bool = True, reset_cache: str | Path | None = None) -> Callable[[], gym.Env]:
    """A constructor of the task's env (physground tasks at suite version ``task_version`` get the
    image size, anti-aliasing, the phrasing split of their prompts and, with ``render`` off, no
    rendering: blank images for policies that read none). With ``reset_cache`` (a folder), a
    physground env's seeded resets are replayed from it when drawn before
    (:class:`~physground.agent.reset_cache.CachedResets`: the same episodes, bit for bit)."""
    if is_physground(task):
        env_id = envs.task_spec(task).env_id_at(task_version)
        scene = {"image_size": image_size, "multisamples": multisamples, "render_images": render}
        if reset_cache is not None:
            from physground.agent.reset_cache import CachedResets

            return lambda: CachedResets(gym.make(env_id, scene=scene, phrasing=phrasing), reset_cache)
        return lambda: gym.make(env_id, scene=scene, phrasing=phrasing)
    return lambda: gym.make(task)


def build_policy(spec: AgentSpec, task: str | None = None) -> Policy:
    """The policy of ``spec`` (for ``task``, default the spec's own), untrained heads."""
    task = task or spec.task
    if spec.agent == "mlp":
        env = env_factory(task)()
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or not isinstance(env.action_space, gym.spaces.Discrete):
            raise ValueError(f"the mlp agent needs a Box observation and a Discrete action; {task} has {type(space).__name__} / {type(env.action_space).__name__}")
        obs_dim, n = int(space.shape[0]) if len(space.shape) == 1 else int(space.sample().size), int(env.action_space.n)
        env.close()
        return MLPPolicy(obs_dim, n, task=task)
    if spec.agent in CUE_AGENTS:
        return CuePolicy(agent_cues(spec.agent), task)
    from physground.perception.vlm import VLM

    folders = component_folders(spec)
    vlm = VLM.load(folders["vlm"])
    semantics = envs.task_spec(task).env_class(scene=envs.SceneConfig(render_images=False))
    if spec.agent.startswith("vlm"):
        from physground.agent.vlm_policy import VLMPolicy

        return VLMPolicy(vlm, semantics.action_names, lora_rank=spec.lora_rank, mode=spec.vlm_mode, parse_answer=semantics.parse_answer,
                         lora_targets=spec.lora_targets, task=semantics.task_name, answer_format=spec.answer_format)
    from physground.agent.hybrid import HybridPolicy
    from physground.dynamics.checkpoint import load_dynamics
    from physground.perception.grounders import LearnedGrounder, OracleGrounder

    grounder = LearnedGrounder.load(folders["grounder"], vlm) if "grounder" in folders else OracleGrounder()
    use_dynamics = "dynamics" in folders
    dynamics = load_dynamics(folders["dynamics"]) if use_dynamics else None
    if spec.agent in TASK_AGNOSTIC_AGENTS:
        from physground.agent.executor import ProgramExecutor, gnn_backend
        from physground.agent.task_agnostic import TaskAgnosticHybrid
        from physground.perception.parser import Parser

        parser = Parser.load(folders["parser"], vlm, folders["vlm"]) if "parser" in folders else None
        executor = ProgramExecutor(gnn_backend(dynamics), min_seconds=IMAGINE_AT_LEAST) if dynamics is not None else None
        return TaskAgnosticHybrid(grounder, parser, executor, semantics.action_names).with_options(semantics.action_names, semantics.task_name)
    encoding = "task-slots" if spec.agent == "hybrid-task-slots" else "roles"
    return HybridPolicy(task, vlm, grounder, dynamics, use_dynamics=use_dynamics, event_encoding=encoding)


def spec_of_run(run_dir: str | Path) -> AgentSpec:
    """The agent spec of a run's ``config.json``, every field checked.

    Raises:
        FileNotFoundError: No run there.
        ValueError: A ``config.json`` that is not a physground run's, naming the file and the field.
    """
    from physground.agent.run import RunDir

    run = RunDir(run_dir)
    config = run.read_config()
    where = f"{str(run.path / 'config.json')!r}"
    if "agent" not in config:
        raise ValueError(f"{where} has no 'agent' section: not a physground run")
    return AgentSpec.from_dict(config["agent"], where=f"{where}: agent")


def load_agent(run_dir: str | Path) -> tuple[AgentSpec, Policy]:
    """The run's agent spec and its policy with trained weights (untrained for zero-shot).

    Raises:
        FileNotFoundError: No run, or a run not trained yet.
        ValueError: A component's weights changed since the run was trained, or a checkpoint
            that does not fit the policy.
    """
    from physground.agent.run import RunDir, seed_everything

    run = RunDir(run_dir)
    config = run.read_config()
    spec = spec_of_run(run_dir)
    check_weight_digests(spec, config.get("weights_sha256", {}), str(run_dir))  # runs before digests were recorded: none
    seed_everything(spec.seed)  # parts not in the checkpoint (frozen or untrained) start the same way
    policy = build_policy(spec)
    if spec.trainer != "none":
        if not run.has_checkpoint():
            raise FileNotFoundError(f"run {str(run_dir)!r} has no checkpoint yet: train it first (physground train-agent ...)")
        _, tensors, _ = run.load_checkpoint()
        policy.load_trainable_state({k[len("policy.") :]: v for k, v in tensors.items() if k.startswith("policy.")})
    return spec, policy


def load_policy(run_dir: str | Path) -> Policy:
    """The trained policy of a run directory (``policy.for_task(task)`` answers other tasks)."""
    return load_agent(run_dir)[1]

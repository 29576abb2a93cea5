"""Ready-made experiments: the Learn page's lessons, grouped runs (AE vs VAE, beta sweeps)
and the per-dataset beta-VAE default.

Pure data and config builders: the pages decide how to show them, the job manager runs them.
Each lesson's claim is measured by ``checks.measure`` from its trained runs; the page
it opens shows that number and tests/core/test_lessons.py asserts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aevae_core.config import TrainConfig


def pair_configs(base: TrainConfig, betas: tuple[float, ...] = ()) -> list[TrainConfig]:
    """An AE and a VAE (and a beta-VAE per extra beta) with identical data, architecture,
    latent dimension, seed and epochs: only the model (and beta) differ."""
    shared = base.replace(noise=0.0, l1_code=0.0, kl_warmup=0)
    configs = [shared.replace(model="ae", beta=1.0), shared.replace(model="vae", beta=1.0)]
    configs += [shared.replace(model="vae", beta=float(b)) for b in betas if float(b) != 1.0]
    return configs


@dataclass(frozen=True)
class Lesson:
    """One lesson: every run it needs (queued as a group) and where its effect shows.

    ``page`` opens with ``?lesson=KEY&runs=ID,...`` (and ``run`` = the ``focus`` run,
    ``view`` = the tab to select), see ``lesson_params``.
    """

    key: str
    title: str
    text: str  # markdown, a few sentences for a student
    look_for: str  # what to look at once it has trained
    page: str  # where the experiment opens
    configs: tuple[TrainConfig, ...]  # queued as one group, in this order
    view: str = ""  # the page's view (tab) to open, e.g. "anomaly"
    focus: int = 0  # index in ``configs`` of the run a single-run page opens


def lesson_params(lesson: Lesson, run_ids: list[str]) -> dict[str, str]:
    """The query parameters that open ``lesson.page`` on the lesson's runs and view."""
    params = {"lesson": lesson.key, "runs": ",".join(run_ids), "run": run_ids[lesson.focus]}
    if lesson.view:
        params["view"] = lesson.view
    return params


# The beta-VAE's default beta per dataset: the KL is a sum over the latent dimensions and the
# reconstruction a sum over pixels, so the same beta weighs the KL 12x more on 8x8 digits
# than on 28x28 MNIST. Higgins et al. (2017, "beta-VAE", section 4) normalise it:
# beta_norm = beta * latent_dim / n_pixels. Measured with the Train page's defaults
# (digits, z=2, batch 32, 20 epochs, seeds 0-2): beta=4 collapses (KL 0.001 nats, 0 active
# units), beta=2 keeps KL 0.6-0.8 nats, beta=1.5 keeps KL 1.3-1.5 nats and both units.
BETA_VAE_DEFAULTS: dict[str, float] = {"digits": 1.5}
# Higgins et al.'s value on dSprites. Same defaults, beta=4, z=2, seed 0: MNIST (the shared
# 10,000-image split) KL 4.1 nats and sprites KL 5.1 nats, both units active.
BETA_VAE_DEFAULT = 4.0


def beta_vae_default(dataset: str) -> float:
    """The Train page's default beta for a beta-VAE on ``dataset`` (one that does not collapse)."""
    return BETA_VAE_DEFAULTS.get(dataset, BETA_VAE_DEFAULT)


def normalised_beta(beta: float, latent_dim: int, n_pixels: int) -> float:
    """beta * latent_dim / n_pixels (Higgins et al. 2017): comparable across image sizes."""
    return beta * latent_dim / n_pixels


def beta_note(dataset: str, beta: float, latent_dim: int) -> str:
    """The Train form's line under beta: its normalised value and where the default comes from."""
    n_pixels = n_pixels_of(dataset) or 1
    return (
        f"Normalised β = β·z/pixels = {normalised_beta(beta, latent_dim, n_pixels):.3g} "
        f"(Higgins et al. 2017). Default on {dataset}: {beta_vae_default(dataset):g}, a value "
        "that does not collapse here."
    )


def n_pixels_of(dataset: str) -> int | None:
    """Pixel values per image of a built-in or torchvision dataset; None for "custom"."""
    from aevae_core.data.registry import DATASET_INFO

    shape = DATASET_INFO.get(dataset, {}).get("shape")
    return math.prod(shape) if shape else None


# A 2-D digits model that learns a real latent structure in seconds on a laptop CPU. With
# fewer updates a 2-D VAE stays (nearly) collapsed: batch 128 for 10 epochs ends at a KL of
# 0.04 nats/image. This one, seeds 0-2: 2.2-2.4 nats/image, 2 of 2 active units, ~1 s of
# training (4 s with the CLI's start-up).
DIGITS_2D = TrainConfig(dataset="digits", latent_dim=2, batch_size=32, epochs=20)
QUICK_START = DIGITS_2D.replace(model="vae", beta=1.0)  # Home's one-click run
DIGITS_8D = DIGITS_2D.replace(latent_dim=8)
# The lessons' betas on 8x8 digits at z=8 (normalised: 0.031, 0.0625, 0.125). beta=4
# (normalised 0.5) collapses here: KL 0.001 nats, 0 active units; beta=2 keeps only 0.4-0.7.
BETA_LESSON = (0.25, 0.5, 1.0)
COLLAPSE_BETA = 8.0
DENOISE_NOISE = 0.5  # std of the Gaussian corruption, training and the measured effect
CODE_SIZES = (2, 4, 8)
OPTIMIZER_LESSON = (("sgd", 0.01), ("momentum", 0.01), ("adagrad", 0.01), ("adam", 1e-3))
OPTIMIZER_EPOCHS = 10
ANOMALY_KINDS = ("noisy", "inverted", "shuffled")

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        key="ae_vs_vae",
        title="AE vs VAE: holes in the latent space",
        text="Both squeeze digits into 8 numbers. The AE only has to rebuild its training "
        "images, so it may put its codes anywhere; the VAE's KL term pulls them towards "
        "N(0, I). Decode random codes drawn from N(0, I): the VAE's land where its training "
        "codes are, the AE's fall into holes between them. (In 2-D the effect hides: an AE's "
        "codes spread wide enough that N(0, I) lands inside its cloud.)",
        look_for="The samples from the prior, and the number under each run's samples: how "
        "far a sample is from the nearest training image (the median over 500 samples). The "
        "AE's samples lie farther from anything it was trained on.",
        page="pages/compare.py",
        configs=tuple(pair_configs(DIGITS_8D)),
        view="prior",
    ),
    Lesson(
        key="beta",
        title="β: the reconstruction–KL trade-off",
        text="β weights the KL term. Small β: sharper reconstructions, codes that carry more "
        "information (a larger KL). Larger β: codes closer to N(0, I), blurrier "
        "reconstructions. How large is large depends on the image size: on 8x8 digits the KL "
        "weighs 12x more than on 28x28 MNIST, so we use β = 0.25, 0.5 and 1 here, values "
        "chosen so that no run collapses (β = 4 already does here). The normalised "
        "β = β·z/pixels (Higgins et al. 2017) is shown next to each.",
        look_for="On the rate–distortion plot each run is a point: as β grows the KL (rate) "
        "falls and the reconstruction error (distortion) rises; every run keeps active units.",
        page="pages/compare.py",
        configs=tuple(DIGITS_8D.replace(model="vae", beta=b) for b in BETA_LESSON),
        view="rate",
    ),
    Lesson(
        key="collapse",
        title="Posterior collapse",
        text=f"With a large β (here {COLLAPSE_BETA:g}, on 8x8 digits) the cheapest solution is "
        "to ignore the input: q(z|x) equals the prior, the KL is 0 and every image decodes "
        "to the same average blur. A β = 1 VAE with the same settings is trained next to it.",
        look_for="The KL per dimension: every bar is near 0 and no unit is active; the page "
        "warns that the posterior has collapsed. Pick the β = 1 run to see active units.",
        page="pages/latent.py",
        configs=(
            DIGITS_8D.replace(model="vae", beta=COLLAPSE_BETA),
            DIGITS_8D.replace(model="vae"),
        ),
        view="kl",
    ),
    Lesson(
        key="denoising",
        title="Denoising",
        text="A denoising AE sees corrupted images but must rebuild the clean ones, so it "
        "learns what digits look like rather than copying pixels. A plain AE with the same "
        "architecture and seed is trained next to it.",
        look_for=f"The Denoising tab: at noise {DENOISE_NOISE:g} the denoising AE's output is "
        "closer to the clean image than the plain AE's (MSE to the clean images, both runs).",
        page="pages/reconstructions.py",
        configs=tuple(
            DIGITS_8D.replace(model=m, latent_dim=16, noise=n)
            for m, n in (("dae", DENOISE_NOISE), ("ae", 0.0))
        ),
        view="denoising",
    ),
    Lesson(
        key="anomaly",
        title="Anomaly detection by reconstruction error",
        text="A model rebuilds well what resembles its training data. Images it rebuilds "
        "badly are unusual: a threshold on the error flags anomalies.",
        look_for="The Anomaly detection tab: validation errors vs noisy, inverted or shuffled "
        "images, with precision, recall and ROC AUC (at least 0.9 for each of the three).",
        page="pages/reconstructions.py",
        configs=(DIGITS_8D.replace(model="ae"),),
        view="anomaly",
    ),
    Lesson(
        key="compression",
        title="Compression: code size vs quality",
        text="The code is a compressed image. Fewer latent numbers save bytes but lose "
        f"detail. Train AEs with codes of {', '.join(map(str, CODE_SIZES))} numbers (an 8x8 "
        "digit has 64 pixels).",
        look_for="Compare the reconstructions and the MSE per pixel: the error falls as "
        "the code grows.",
        page="pages/compare.py",
        configs=tuple(DIGITS_2D.replace(model="ae", latent_dim=d) for d in CODE_SIZES),
        view="recon",
    ),
    Lesson(
        key="optimizers",
        title="Optimisers: SGD, momentum, Adagrad, Adam",
        text="The same AE trained four times; only the update rule differs. Plain SGD takes "
        "a step of lr x gradient; momentum keeps a running direction (0.9 of the last step), "
        "so with the same lr it moves about 10x farther along a consistent slope; Adagrad and "
        "Adam scale each weight's step by the size of its past gradients. SGD, momentum and "
        "Adagrad use lr 0.01, Adam its usual 0.001.",
        look_for="The overlaid loss curves: Adagrad leads after the first epoch; plain SGD "
        f"barely moves and after {OPTIMIZER_EPOCHS} epochs is more than 5 nats/image behind "
        "each of the other three.",
        page="pages/compare.py",
        configs=tuple(
            DIGITS_8D.replace(model="ae", optimizer=o, lr=lr, epochs=OPTIMIZER_EPOCHS)
            for o, lr in OPTIMIZER_LESSON
        ),
        view="curves",
    ),
)
LESSONS_BY_KEY: dict[str, Lesson] = {lesson.key: lesson for lesson in LESSONS}

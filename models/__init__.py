"""Networks and research recipes that run on analogjax hardware and solvers
(installed as ``analogjax.models``)."""

from ._classifier import (
    accuracy as accuracy,
    accuracy_over_time as accuracy_over_time,
    load_digits_split as load_digits_split,
    train_classifier as train_classifier,
)
from ._data import (
    latency_code as latency_code,
    load_digits as load_digits,
    load_idx as load_idx,
    load_mnist_5k as load_mnist_5k,
    load_mnist_idx as load_mnist_idx,
    rate_code as rate_code,
    stratified_split as stratified_split,
)
from ._diffusion import (
    NULL_LABEL as NULL_LABEL,
    ScoreNet as ScoreNet,
    ring_samples as ring_samples,
    score_optimiser as score_optimiser,
    train_score_net as train_score_net,
)
from ._fit import fit as fit
from ._graphs import (
    GraphBatch as GraphBatch,
    load_mutag as load_mutag,
    stochastic_block_model as stochastic_block_model,
)
from ._metrics import (
    histogram_kl as histogram_kl,
    histogram_l2 as histogram_l2,
    mmd as mmd,
    sample_metrics as sample_metrics,
    sliced_wasserstein as sliced_wasserstein,
)
from ._reservoir import (
    EchoStateGraphNetwork as EchoStateGraphNetwork,
    EchoStateNetwork as EchoStateNetwork,
    FormedReservoir as FormedReservoir,
    RandomReservoir as RandomReservoir,
    RidgeReadout as RidgeReadout,
    class_targets as class_targets,
    esgnn_energy as esgnn_energy,
    graph_accuracies as graph_accuracies,
    graph_accuracy_per_chip as graph_accuracy_per_chip,
    reservoir_crossbar as reservoir_crossbar,
    sequence_nrmse as sequence_nrmse,
    split_accuracy as split_accuracy,
)
from ._sequences import mackey_glass as mackey_glass, narma10 as narma10, nrmse as nrmse
from ._spiking import (
    EarlyExit as EarlyExit,
    SpikeRun as SpikeRun,
    SpikingConvArchitecture as SpikingConvArchitecture,
    SpikingTopologyNet as SpikingTopologyNet,
    early_exit as early_exit,
    spike as spike,
)
from ._topology import (
    AbstractTopologyNet as AbstractTopologyNet,
    TopologyNet as TopologyNet,
    TopologyTraining as TopologyTraining,
    init_scores as init_scores,
    sgd_cosine as sgd_cosine,
    train_topology as train_topology,
)
from ._twin import (
    LORENZ96_SCALE as LORENZ96_SCALE,
    NeuralODE as NeuralODE,
    hp_memristor_trajectories as hp_memristor_trajectories,
    lorenz96_field as lorenz96_field,
    lorenz96_trajectories as lorenz96_trajectories,
    rmse as rmse,
    timed as timed,
    train_neural_ode as train_neural_ode,
)
from ._vae import (
    LATENT_SCALE as LATENT_SCALE,
    DigitVAE as DigitVAE,
    load_digit_classes as load_digit_classes,
    train_vae as train_vae,
)

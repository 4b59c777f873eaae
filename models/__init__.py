"""Networks and research recipes that run on analogjax hardware and solvers
(installed as ``analogjax.models``)."""

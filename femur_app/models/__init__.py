"""The networks (AlexNet-BN, AlexNet, GoogLeNet), their registry, the radiomics baseline, the checkpoints and
``FoldModel``, a trained fold's network with what predicting needs (``checkpoint.load`` reads one).

``MODELS`` maps a configuration's ``model.name`` to its builder; ``build_model`` builds one by name.
"""
from femur_app.models.alexnet import alexnet, alexnet_bn
from femur_app.models.googlenet import googlenet
from femur_app.models.registry import L2_LAYERS, MODELS, build_model

__all__ = ["L2_LAYERS", "MODELS", "alexnet", "alexnet_bn", "build_model", "googlenet"]

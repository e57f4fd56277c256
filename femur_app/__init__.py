"""femur_app: AlexNet-BN femoral bone tumour classification, built on minicnn."""

"""mtl_jax: dense multi-task scene understanding in JAX/Flax."""

import setuptools

setuptools.setup(
    name="mtl_jax",
    version="0.1.0",
    description=(
        "Dense multi-task learning (segmentation, depth, normals) in JAX/Flax:"
        " MTRAN, DenseMTL, SemBoost, Self-Regulation, HMSA and gradient balancers."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["mtl_jax", "mtl_jax.*"]),
    install_requires=[
        "jax>=0.10.2",
        "flax>=0.12.8",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12.8",
        "chex>=0.1.92",
        "ml-collections>=1.1.0",
        "absl-py",
        "numpy",
        # tensorflow-datasets without TensorFlow: array_record files, PNG via
        # pillow; tfds 4.9.10 imports importlib_resources without declaring it.
        "tensorflow-datasets>=4.9.10",
        "array_record",
        "pillow",
        "importlib_resources",
        "grain>=0.2.18",
        "tensorboardX",
        "tqdm",
        "matplotlib",
        "flatbuffers",  # jax.export's serialization (mtl_jax.predict --export).
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist", "nbmake", "nbformat", "nbclient", "ipykernel", "scipy"],
    },
)

if [[ "$OSTYPE" == "darwin"* ]]; then
    export USE_CUDA=0

    # Produce macOS builds with torch.distributed support.
    # This is enabled by default on Linux, but disabled by default on macOS,
    # because it requires an non-bundled compile-time dependency (libuv
    # through gloo). This dependency is made available through meta.yaml, so
    # we can override the default and set USE_DISTRIBUTED=1.
    export USE_DISTRIBUTED=1

    if [[ "$target_platform" == "osx-arm64" ]]; then
        # MKLDNN did not support on Apple M1 at the time support Apple M1
        # was added. Revisit later
        export USE_MKLDNN=0
    fi
elif [[ ${cuda_compiler_version} != "None" ]]; then
    if [[ "$target_platform" == "linux-aarch64" ]]; then
        # https://github.com/pytorch/pytorch/pull/121975
        # https://github.com/conda-forge/pytorch-cpu-feedstock/issues/264
        export USE_PRIORITIZED_TEXT_FOR_LD=1
    fi
    # Even though cudnn is used for CUDA builds, it's good to enable
    # for MKLDNN for CUDA builds when CUDA builds are used on a machine
    # with no NVIDIA GPUs.
    export USE_MKLDNN=1
    export USE_CUDA=1
    export USE_CUFILE=1
    # PyTorch has multiple different bits of logic finding CUDA, override
    # all of them.
    export CUDAToolkit_BIN_DIR=${BUILD_PREFIX}/bin
    export CUDAToolkit_ROOT_DIR=${PREFIX}
    # for CUPTI
    export CUDA_TOOLKIT_ROOT_DIR=${PREFIX}
    export CUDAToolkit_ROOT=${PREFIX}
    case ${target_platform} in
        linux-64)
            CUDA_TARGET=x86_64-linux
            ;;
        linux-aarch64)
            if [[ "${arm_variant_type}" == "tegra" ]]; then
                CUDA_TARGET=aarch64-linux
            else
                CUDA_TARGET=sbsa-linux
            fi
            ;;
        *)
            echo "unknown CUDA arch, edit build.sh"
            exit 1
    esac
    export CUDAToolkit_TARGET_DIR=${PREFIX}/targets/${CUDA_TARGET}
    sed -i -e "s,@CUDA_TARGET@,${CUDA_TARGET}," torch/_inductor/cpp_builder.py
    sed -i -e "s,@CUDA_TARGET@,${CUDA_TARGET}," torch/utils/cpp_extension.py

    export TORCH_NVCC_FLAGS="-Xfatbin -compress-all"

    # Compatibility matrix for update: https://en.wikipedia.org/wiki/CUDA#GPUs_supported
    # Warning from pytorch v1.12.1: In the future we will require one to
    # explicitly pass TORCH_CUDA_ARCH_LIST to cmake instead of implicitly
    # setting it as an env variable.
    # Doing this is nontrivial given that we're using setup.py as an entry point, but should
    # be addressed to pre-empt upstream changing it, as it probably won't result in a failed
    # configuration.
    #
    # See:
    # https://pytorch.org/docs/stable/cpp_extension.html (Compute capabilities)
    # https://github.com/pytorch/pytorch/blob/main/.ci/manywheel/build_cuda.sh
    if [[ "${arm_variant_type}" == "tegra" ]]; then
        # Only build for the 8.7 architecture, which is the one used by Jetson Orin.
        # The Jetson Thor lineup will start supporting 11.0 using CUDA 13 which doesn't require the tegra variant.
        export TORCH_CUDA_ARCH_LIST="8.7+PTX"
    else
        case ${cuda_compiler_version} in
            12.[89])
                export TORCH_CUDA_ARCH_LIST="5.0;6.0;7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX"
                ;;
            13.0)
                if [[ "${target_platform}" == "linux-aarch64" ]]; then
                    # No tegra variant from CUDA 13 on, so cover Jetson Orin (8.7) here.
                    # See https://github.com/conda-forge/pytorch-cpu-feedstock/issues/527
                    export TORCH_CUDA_ARCH_LIST="7.5;8.0;8.6;8.7;9.0;10.0;11.0;12.0+PTX"
                else
                    export TORCH_CUDA_ARCH_LIST="7.5;8.0;8.6;9.0;10.0;11.0;12.0+PTX"
                fi
                # c.f. https://github.com/pytorch/pytorch/pull/161316
                export TORCH_NVCC_FLAGS="$TORCH_NVCC_FLAGS -compress-mode=size"
                ;;
            *)
                echo "No CUDA architecture list exists for CUDA v${cuda_compiler_version}. See build.sh for information on adding one."
                exit 1
        esac
    fi

    export NCCL_ROOT_DIR=$PREFIX
    export NCCL_INCLUDE_DIR=$PREFIX/include
    export USE_SYSTEM_NCCL=1
    export USE_SYSTEM_NVTX=1
    export USE_STATIC_NCCL=0
    export USE_STATIC_CUDNN=0
    export MAGMA_HOME="${PREFIX}"
    export USE_MAGMA=1
    export CUDA_VERSION=$cuda_compiler_version
    # ptxas advisories do not get ignored correctly, see
    # https://github.com/conda-forge/cuda-nvcc-feedstock/issues/60
    export CMAKE_CUDA_FLAGS="-w -Xptxas -w"
else
    if [[ "$target_platform" != *-64 ]]; then
      # Breakpad seems to not work on aarch64 or ppc64le
      # https://github.com/pytorch/pytorch/issues/67083
      export USE_BREAKPAD=0
    fi
    # MKLDNN is an Apache-2.0 licensed library for DNNs and is used
    # for CPU builds. Not to be confused with MKL.
    export USE_MKLDNN=1
    export USE_CUDA=0
    export TORCH_CUDA_ARCH_LIST=""
fi

if not "%cuda_compiler_version%" == "None" (
    set USE_CUDA=1
    set USE_STATIC_CUDNN=0
    @REM NCCL is not available on windows
    set USE_NCCL=0
    set USE_STATIC_NCCL=0

    set "TORCH_NVCC_FLAGS=-Xfatbin -compress-all"

    @rem PyTorch has multiple different bits of logic finding CUDA, override
    @rem all of them.
    set "CUDAToolkit_BIN_DIR=%BUILD_PREFIX%/Library/bin"
    set "CUDAToolkit_ROOT_DIR=%LIBRARY_PREFIX%"
    @rem for CUPTI
    set "CUDA_TOOLKIT_ROOT_DIR=%LIBRARY_PREFIX%"
    set "CUDAToolkit_ROOT=%LIBRARY_PREFIX%"

    if "%cuda_compiler_version:~0,2%"=="12" (
        set "TORCH_CUDA_ARCH_LIST=5.0;6.0;7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX"
    ) else if "%cuda_compiler_version%" == "13.0" (
        set "TORCH_CUDA_ARCH_LIST=7.5;8.0;8.6;9.0;10.0;11.0;12.0+PTX"
        REM c.f. https://github.com/pytorch/pytorch/pull/161316
        set "TORCH_NVCC_FLAGS=!TORCH_NVCC_FLAGS! -compress-mode=size"
    ) else (
        echo "unsupported cuda version. edit build_pytorch.bat"
        exit /b 1
    )

    set MAGMA_HOME=%LIBRARY_PREFIX%
    set "PATH=%CUDA_BIN_PATH%;%PATH%"
    set CUDNN_INCLUDE_DIR=%LIBRARY_PREFIX%\include
    set "CUDA_VERSION=%cuda_compiler_version%"
) else (
    set USE_CUDA=0
    @REM MKLDNN is an Apache-2.0 licensed library for DNNs and is used
    @REM for CPU builds. Not to be confused with MKL.
    set "USE_MKLDNN=1"
    set "TORCH_CUDA_ARCH_LIST="

    @REM On windows, env vars are case-insensitive and setup.py
    @REM passes all env vars starting with CUDA_*, CMAKE_* to
    @REM to cmake
    set "cuda_compiler_version="
    set "cuda_compiler="
    set "CUDA_VERSION="
)

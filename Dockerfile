# The real-device image: Android SDK + emulator + one base AVD, Appium 2 with UiAutomator2, and coso.
#
# NOT BUILT OR TESTED IN THIS REPOSITORY'S CI: building it needs network access to dl.google.com, npm and
# PyPI, and running emulators needs KVM. Kept minimal on purpose; see env_setup/README.md.
#
#   docker build -t coso-android .
#   docker run --rm -it --device /dev/kvm --gpus all -e GEMINI_API_KEY \
#       -v coso-avd:/root/.android/avd -v "$PWD/runs:/work/runs" coso-android
#   # once, inside: env_setup/make_snapshot.sh coso_base coso_ready   (KVM is not available at build time)
#   # then:         python env_setup/check_device.py && python scripts/run.py --config-name coso_off2on env=android ...

FROM python:3.11-slim-bookworm

ARG CMDLINE_TOOLS_VERSION=11076708
ARG ANDROID_API=33
ARG SYSTEM_IMAGE="system-images;android-33;google_apis_playstore;x86_64"

ENV ANDROID_SDK_ROOT=/opt/android-sdk \
    ANDROID_HOME=/opt/android-sdk \
    ANDROID_AVD_HOME=/root/.android/avd \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1
ENV PATH="${ANDROID_SDK_ROOT}/cmdline-tools/latest/bin:${ANDROID_SDK_ROOT}/platform-tools:${ANDROID_SDK_ROOT}/emulator:${PATH}"

# Java for sdkmanager, Node.js 18 (Debian bookworm) for Appium 2, and the shared libraries the emulator loads.
RUN apt-get update && apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless nodejs npm curl unzip ca-certificates procps \
        libpulse0 libnss3 libxcomposite1 libxcursor1 libxdamage1 libxi6 libxrandr2 libxtst6 libgl1 \
        libasound2 libdbus-1-3 libxkbfile1 libbsd0 \
    && rm -rf /var/lib/apt/lists/*

RUN mkdir -p "${ANDROID_SDK_ROOT}/cmdline-tools" \
    && curl -fsSL -o /tmp/tools.zip \
        "https://dl.google.com/android/repository/commandlinetools-linux-${CMDLINE_TOOLS_VERSION}_latest.zip" \
    && unzip -q /tmp/tools.zip -d "${ANDROID_SDK_ROOT}/cmdline-tools" \
    && mv "${ANDROID_SDK_ROOT}/cmdline-tools/cmdline-tools" "${ANDROID_SDK_ROOT}/cmdline-tools/latest" \
    && rm /tmp/tools.zip \
    && yes | sdkmanager --licenses > /dev/null \
    && sdkmanager "platform-tools" "emulator" "platforms;android-${ANDROID_API}" "${SYSTEM_IMAGE}" \
    && echo no | avdmanager create avd -n coso_base -d pixel_5 -k "${SYSTEM_IMAGE}"

RUN npm install -g appium@2 && appium driver install uiautomator2

WORKDIR /work/coso
COPY . .
RUN pip install -e ".[gemini]"

CMD ["bash"]

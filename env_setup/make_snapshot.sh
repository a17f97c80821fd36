#!/usr/bin/env bash
# Boot the base AVD once, wait for the boot, let you prepare it, and save the snapshot every emulator
# instance of coso starts from (and returns to on every reset).
#
#   env_setup/make_snapshot.sh [AVD_NAME] [SNAPSHOT_NAME] [CONSOLE_PORT]
#   defaults:                   coso_base  coso_ready      5554
#
# Set SHOW_WINDOW=1 to see the phone (you need a display); otherwise it runs headless and you can prepare
# the phone with adb (e.g. `adb -s emulator-5554 shell am start -a android.intent.action.VIEW -d https://www.google.com`).
set -euo pipefail

AVD="${1:-coso_base}"
SNAPSHOT="${2:-coso_ready}"
PORT="${3:-5554}"
SERIAL="emulator-${PORT}"
SDK="${ANDROID_SDK_ROOT:?set ANDROID_SDK_ROOT to your Android SDK (see env_setup/README.md)}"
ADB="${SDK}/platform-tools/adb"
EMULATOR="${SDK}/emulator/emulator"
BOOT_TIMEOUT="${BOOT_TIMEOUT:-600}"

WINDOW_FLAG="-no-window"
if [[ "${SHOW_WINDOW:-0}" == "1" ]]; then WINDOW_FLAG=""; fi

"${EMULATOR}" -avd "${AVD}" -port "${PORT}" ${WINDOW_FLAG} -no-audio -no-boot-anim -no-snapshot-load \
    -gpu swiftshader_indirect > "/tmp/coso-snapshot-${AVD}.log" 2>&1 &
EMULATOR_PID=$!
trap 'kill ${EMULATOR_PID} 2>/dev/null || true' EXIT

echo "waiting for ${SERIAL} to boot (log: /tmp/coso-snapshot-${AVD}.log) ..."
"${ADB}" -s "${SERIAL}" wait-for-device
deadline=$((SECONDS + BOOT_TIMEOUT))
until [[ "$("${ADB}" -s "${SERIAL}" shell getprop sys.boot_completed 2>/dev/null | tr -d '\r')" == "1" ]]; do
    if (( SECONDS > deadline )); then echo "boot did not complete in ${BOOT_TIMEOUT} s" >&2; exit 1; fi
    if ! kill -0 "${EMULATOR_PID}" 2>/dev/null; then echo "the emulator exited; see the log" >&2; exit 1; fi
    sleep 2
done
echo "booted."

# Animations off: screenshots settle at once and UiAutomator2 is steadier.
for setting in window_animation_scale transition_animation_scale animator_duration_scale; do
    "${ADB}" -s "${SERIAL}" shell settings put global "${setting}" 0
done

echo "Prepare the phone now (dismiss first-run dialogs of Chrome, Play Store, etc.), end on the home screen,"
read -r -p "then press Enter to save snapshot '${SNAPSHOT}' ... " _
"${ADB}" -s "${SERIAL}" shell input keyevent 3
"${ADB}" -s "${SERIAL}" emu avd snapshot save "${SNAPSHOT}"
"${ADB}" -s "${SERIAL}" emu kill
trap - EXIT
wait "${EMULATOR_PID}" 2>/dev/null || true
echo "snapshot '${SNAPSHOT}' saved in AVD '${AVD}'."

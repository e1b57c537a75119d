"""A stand-in export process for the command exporter, as tests run it.

    python fake_export.py {draft_url} {output}

Reports every stage on stdout (`progress N stage`), sleeping FAKE_EXPORT_STAGE_SECONDS
between them, then writes a small MP4-named file with the draft URL in it. It records its
pid in FAKE_EXPORT_PID_DIR/<job id>-<attempt>.pid while it runs, so tests can find it.
Draft URLs steer it: `…fail…` exits 1 with an error on stderr, `…retry…` exits 75,
`…hang…` sleeps for an hour after its first stage.
"""

import os
import sys
import time

STAGES = [(10, "开始处理"), (20, "草稿解析"), (30, "准备环境"), (50, "素材处理"), (70, "导出控制"), (90, "文件生成")]


def main() -> int:
    draft_url, output = sys.argv[1], sys.argv[2]
    assert draft_url == os.environ["CAPCUT_MATE_DRAFT_URL"] and output == os.environ["CAPCUT_MATE_OUTPUT"]
    pause = float(os.environ.get("FAKE_EXPORT_STAGE_SECONDS", "0.05"))
    pid_dir = os.environ.get("FAKE_EXPORT_PID_DIR")
    if pid_dir:
        name = f"{os.environ['CAPCUT_MATE_JOB_ID']}-{os.environ['CAPCUT_MATE_ATTEMPT']}.pid"
        with open(os.path.join(pid_dir, name), "w") as pid_file:
            pid_file.write(str(os.getpid()))
    for progress, stage in STAGES:
        print(f"progress {progress} {stage}", flush=True)
        if "hang" in draft_url:
            time.sleep(3600)
        if "fail" in draft_url and progress == 50:
            print("导出草稿失败: 素材缺失 (fake)", file=sys.stderr, flush=True)
            return 1
        if "retry" in draft_url and progress == 30:
            print("temporary trouble", file=sys.stderr, flush=True)
            return 75
        time.sleep(pause)
    with open(output, "wb") as video:
        video.write(b"\x00\x00\x00\x18ftypmp42" + draft_url.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

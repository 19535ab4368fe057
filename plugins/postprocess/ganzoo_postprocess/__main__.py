"""`python -m ganzoo_postprocess`: list the presets this machine can use, and where each comes from."""
from ganzoo_postprocess.presets import available_presets, preset_dirs, read_preset

print("Presets (name: description, file). Folders searched, first match wins:")
for folder in preset_dirs():
    print(f"  {folder}")
for name, file in available_presets().items():
    try:
        description = read_preset(file)[0]
    except ValueError as exc:
        description = f"UNREADABLE: {exc}"
    print(f"{name}: {description}\n  {file}")

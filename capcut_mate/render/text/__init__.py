"""Text drawn as JianYing lays it out: `raster` makes a text material a transparent picture,
which the ffmpeg backend then places, scales, turns and fades like any other layer; `looks`
holds what the 花字 resources the renderer knows are drawn as."""

#version 330 core
// A/B difference heat map: the per-pixel error |A - B| of the two sides' images (each as the
// viewport shows it: 8 bits per channel, background included), reduced over RGB, divided by the
// full-scale value and mapped through inferno (black where A and B agree).
#include "colormap.glsl"
uniform sampler2D u_a;  // RGBA8, the target's size: side A (left in split view)
uniform sampler2D u_b;  // side B
uniform ivec2 u_offset;  // where the images' bottom-left pixel lies in the target
uniform float u_full_scale;  // the error drawn at the top of the colormap
uniform int u_reduce;  // 0: mean of the three channels' |A - B|, 1: their maximum
out vec4 frag;

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy) - u_offset;
    vec3 d = abs(texelFetch(u_a, p, 0).rgb - texelFetch(u_b, p, 0).rgb);
    float e = u_reduce == 1 ? max(d.r, max(d.g, d.b)) : (d.r + d.g + d.b) / 3.0;
    frag = vec4(inferno(e / u_full_scale), 1.0);
}

#version 330 core
// Background composite of the float accumulation buffer: C + (1 - A) bg
// (engine.render.rasterize; ALGORITHMS.md §6.4). The accumulation buffer holds the camera's image;
// u_offset is where its bottom-left pixel lies in the target (the render viewport).
uniform sampler2D u_accum;  // RGBA float: premultiplied colour sum and coverage A
uniform vec3 u_background;
uniform ivec2 u_offset;
out vec4 frag;

void main() {
    vec4 acc = texelFetch(u_accum, ivec2(gl_FragCoord.xy) - u_offset, 0);
    frag = vec4(acc.rgb + (1.0 - acc.a) * u_background, 1.0);
}

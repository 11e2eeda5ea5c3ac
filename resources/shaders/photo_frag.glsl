#version 330 core
// A capture's photo drawn where its camera's image lies: the photo's rectangle maps onto u_rect,
// as the camera's intrinsics map its image there (engine Camera.fitted / image_rect: pixel centres
// at +0.5 on both), sampled with trilinear filtering; outside u_rect, the background. Where the
// photo has an alpha channel (NeRF-synthetic RGBA), the background it was composited onto is
// replaced by the viewport's, so the photo is compared with renders over the same background.
uniform sampler2D u_photo;  // RGBA: colour composited onto u_photo_background, alpha (1 without)
uniform vec4 u_rect;  // x, y, width, height in target pixels (origin bottom-left; fractional)
uniform vec3 u_background;
uniform vec3 u_photo_background;
out vec4 frag;

void main() {
    vec2 uv = (gl_FragCoord.xy - u_rect.xy) / u_rect.zw;
    if (any(lessThan(uv, vec2(0.0))) || any(greaterThan(uv, vec2(1.0)))) {
        frag = vec4(u_background, 1.0);
        return;
    }
    vec4 p = texture(u_photo, uv);
    frag = vec4(p.rgb + (1.0 - p.a) * (u_background - u_photo_background), 1.0);
}
